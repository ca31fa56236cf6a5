/**
 * The records the IdP keeps between requests (grants, tokens, codes, device authorizations,
 * pending logins, used assertion ids), each in a map bounded by the `limits` option and pruned on
 * the IdP's clock. @internal
 *
 * @module
 */
import { BoundedMap } from './bounded.ts'
import type { MockClock } from './clock.ts'
import { MockIdpError } from './errors.ts'
import type { Challenge } from './pkce.ts'
import type { AccessTokenFormat, MockClient, MockIdpLimits } from './types.ts'
import { randomToken, userCode } from './util.ts'

/**
 * How long an expired code or device authorization is kept, so a late client still hears
 * "expired" (`expired_token` for a device) rather than "unknown".
 */
const EXPIRED_RETAIN_MS = 10 * 60 * 1000

/** A user's consent and login, the root every token of one login hangs from. */
export interface Grant {
  readonly id: string
  readonly clientId: string
  readonly sub: string
  readonly scope: readonly string[]
  readonly authTimeMs: number | undefined
  /** The resource indicators (RFC 8707) the grant covers; empty: the default audience. */
  readonly resources: readonly string[]
  revoked: boolean
  readonly accessIds: Set<string>
  readonly refreshTokens: Set<string>
  /** When the last token issued from it expires: the grant is kept until then. */
  expMs: number
}

export interface AccessRecord {
  readonly id: string
  readonly format: AccessTokenFormat
  readonly clientId: string
  readonly sub: string
  readonly scope: readonly string[]
  readonly aud: string | readonly string[]
  readonly iatMs: number
  readonly expMs: number
  readonly grantId: string | undefined
  readonly username: string | undefined
  /** The DPoP key thumbprint the token is bound to (`cnf.jkt`, RFC 9449 §6). */
  readonly jkt: string | undefined
  revoked: boolean
}

export interface RefreshRecord {
  readonly token: string
  readonly grantId: string
  readonly clientId: string
  readonly iatMs: number
  readonly expMs: number
  /** The DPoP key a public client's refresh token is bound to (RFC 9449 §5). */
  readonly jkt: string | undefined
  status: 'active' | 'rotated' | 'revoked'
}

export interface CodeRecord {
  readonly clientId: string
  readonly redirectUri: string
  readonly sub: string
  readonly scope: readonly string[]
  /** The scope the authorization request asked for (the token response reports narrowing). */
  readonly requestedScope: readonly string[]
  readonly nonce: string | undefined
  readonly codeChallenge: string | undefined
  readonly codeChallengeMethod: 'S256' | 'plain' | undefined
  readonly expMs: number
  readonly authTimeMs: number
  /** The DPoP key the code is bound to (`dpop_jkt`, or the PAR request's proof; RFC 9449 §10). */
  readonly dpopJkt: string | undefined
  /** The resource indicators of the authorization request (RFC 8707). */
  readonly resources: readonly string[]
  used: boolean
  grantId: string | undefined
}

/** A pushed authorization request (RFC 9126), waiting for its one use at `/authorize`. */
export interface PushedRequest {
  readonly clientId: string
  /** The pushed parameters (with `dpop_jkt` set from the PAR request's DPoP proof, if any). */
  readonly params: ReadonlyMap<string, string>
  readonly expMs: number
}

/** The state of one device authorization (RFC 8628). */
export interface DeviceRecord {
  readonly deviceCode: string
  readonly userCode: string
  readonly clientId: string
  readonly scope: readonly string[]
  /** The scope the device authorization request asked for. */
  readonly requestedScope: readonly string[]
  readonly createdAtMs: number
  readonly expMs: number
  intervalS: number
  lastPollMs: number | undefined
  status: 'pending' | 'approved' | 'denied' | 'consumed'
  sub: string | undefined
  authTimeMs: number | undefined
  /** The PKCE challenge of the device authorization request, checked at every poll. */
  readonly pkce: Challenge
  /** The resource indicators of the device authorization request (RFC 8707). */
  readonly resources: readonly string[]
}

/** A pending authorization request waiting for the login form. */
export interface PendingLogin {
  readonly params: ReadonlyMap<string, string>
  readonly client: MockClient
  readonly expMs: number
}

/** The sizes of the state maps. */
export interface StateSizes {
  readonly accessTokens: number
  readonly refreshTokens: number
  readonly grants: number
  readonly codes: number
  readonly devices: number
  readonly pendingLogins: number
  readonly assertions: number
  readonly dpopProofs: number
  readonly requestUris: number
}

/** Every record of one IdP between requests. The maps are bounded; `clear()` empties them all. */
export class State {
  readonly grants: BoundedMap<string, Grant>
  readonly accessTokens: BoundedMap<string, AccessRecord>
  readonly refreshTokens: BoundedMap<string, RefreshRecord>
  readonly codes: BoundedMap<string, CodeRecord>
  readonly devices: BoundedMap<string, DeviceRecord>
  readonly pendingLogins: BoundedMap<string, PendingLogin>
  readonly requestUris: BoundedMap<string, PushedRequest>
  readonly #userCodes = new Map<string, string>()
  readonly #assertions: BoundedMap<string, { readonly expMs: number }>
  readonly #dpopProofs: BoundedMap<string, { readonly expMs: number }>
  readonly #clock: MockClock

  constructor(limits: Required<MockIdpLimits>, clock: MockClock) {
    this.#clock = clock
    const now = () => clock.now()
    this.grants = new BoundedMap(limits.grants, now)
    this.accessTokens = new BoundedMap(limits.accessTokens, now)
    this.refreshTokens = new BoundedMap(limits.refreshTokens, now)
    this.codes = new BoundedMap(limits.codes, now, EXPIRED_RETAIN_MS)
    this.devices = new BoundedMap(limits.devices, now, EXPIRED_RETAIN_MS, (device) =>
      this.#userCodes.delete(device.userCode),
    )
    this.pendingLogins = new BoundedMap(limits.pendingLogins, now)
    this.#assertions = new BoundedMap(limits.assertions, now)
    this.#dpopProofs = new BoundedMap(limits.dpopProofs, now)
    this.requestUris = new BoundedMap(limits.requestUris, now)
  }

  /** Forgets every record. */
  clear(): void {
    for (const map of [
      this.grants,
      this.accessTokens,
      this.refreshTokens,
      this.codes,
      this.devices,
      this.pendingLogins,
      this.#assertions,
      this.#dpopProofs,
      this.requestUris,
    ]) {
      map.clear()
    }
    this.#userCodes.clear()
  }

  /** How many records each map holds. */
  sizes(): StateSizes {
    return {
      accessTokens: this.accessTokens.size,
      refreshTokens: this.refreshTokens.size,
      grants: this.grants.size,
      codes: this.codes.size,
      devices: this.devices.size,
      pendingLogins: this.pendingLogins.size,
      assertions: this.#assertions.size,
      dpopProofs: this.#dpopProofs.size,
      requestUris: this.requestUris.size,
    }
  }

  /** Starts a grant; it lives as long as the longest-lived token issued from it. */
  newGrant(
    clientId: string,
    sub: string,
    scope: readonly string[],
    authTimeMs: number | undefined,
    lifetimeMs: number,
    resources: readonly string[] = [],
  ): Grant {
    const grant: Grant = {
      id: randomToken(12),
      clientId,
      sub,
      scope,
      authTimeMs,
      resources,
      revoked: false,
      accessIds: new Set(),
      refreshTokens: new Set(),
      expMs: this.#clock.now() + lifetimeMs,
    }
    this.grants.set(grant.id, grant)
    return grant
  }

  /** Revokes a grant with every access and refresh token issued from it. */
  revokeGrant(grantId: string | undefined): void {
    const grant = grantId === undefined ? undefined : this.grants.get(grantId)
    if (!grant) return
    grant.revoked = true
    for (const id of grant.accessIds) {
      const record = this.accessTokens.get(id)
      if (record) record.revoked = true
    }
    for (const token of grant.refreshTokens) {
      const record = this.refreshTokens.get(token)
      if (record) record.status = 'revoked'
    }
  }

  /** Records a new device authorization with a fresh, unused user code. */
  newDevice(input: {
    readonly clientId: string
    readonly scope: readonly string[]
    readonly requestedScope: readonly string[]
    readonly pkce: Challenge
    readonly resources: readonly string[]
    readonly lifetimeMs: number
    readonly intervalS: number
  }): DeviceRecord {
    const now = this.#clock.now()
    let code = userCode()
    while (this.#userCodes.has(code)) code = userCode()
    const device: DeviceRecord = {
      deviceCode: randomToken(32),
      userCode: code,
      clientId: input.clientId,
      scope: input.scope,
      requestedScope: input.requestedScope,
      createdAtMs: now,
      expMs: now + input.lifetimeMs,
      intervalS: input.intervalS,
      lastPollMs: undefined,
      status: 'pending',
      sub: undefined,
      authTimeMs: undefined,
      pkce: input.pkce,
      resources: input.resources,
    }
    this.devices.set(device.deviceCode, device)
    this.#userCodes.set(device.userCode, device.deviceCode)
    return device
  }

  /**
   * The device record for a user code that a person or test may act on.
   * @throws MockIdpError `ERR_UNKNOWN_USER_CODE`
   */
  deviceForUserCode(code: string): DeviceRecord {
    const deviceCode = this.#userCodes.get(code)
    const device = deviceCode === undefined ? undefined : this.devices.get(deviceCode)
    if (!device) {
      throw new MockIdpError(
        'ERR_UNKNOWN_USER_CODE',
        `no device authorization with user code ${JSON.stringify(code)}`,
      )
    }
    return device
  }

  /** Single-use `jti` bookkeeping for client assertions; `false` when the id was used before. */
  useAssertion(jti: string, expMs: number): boolean {
    if (this.#assertions.has(jti)) return false
    this.#assertions.set(jti, { expMs })
    return true
  }

  /**
   * Single-use bookkeeping for DPoP proof ids (RFC 9449 §11.1), kept until `expMs` (when the
   * proof's `iat` is out of the window anyway); `false` when the id was used before.
   */
  useDpopProof(key: string, expMs: number): boolean {
    if (this.#dpopProofs.has(key)) return false
    this.#dpopProofs.set(key, { expMs })
    return true
  }
}
