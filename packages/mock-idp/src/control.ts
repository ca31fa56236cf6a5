/** The control plane: the same operations in-process (`idp.control`) and over HTTP. @module */
import type { MockClock } from './clock.ts'
import { MockIdpError } from './errors.ts'
import type { FaultRule } from './faults.ts'
import { type ClaimOverrides, issueTokens, signJwt, type TokenResponse } from './issuing.ts'
import type { JournalEntry, JournalFilter } from './journal.ts'
import { info, type KeyInfo } from './keys.ts'
import type { Provider } from './provider.ts'
import { checkClient, checkUser, isConfidential } from './settings.ts'
import type { DeviceRecord } from './state.ts'
import type { MockClient, MockIdpLimits, MockUser, SigningAlg } from './types.ts'

/** A device authorization as tests see it (the device code itself stays secret). */
export interface DeviceInfo {
  /** The user code a person would type. */
  readonly userCode: string
  /** The client that asked. */
  readonly clientId: string
  /** The scope asked for. */
  readonly scope: string
  /** `pending`, `approved`, `denied` or `consumed` (tokens were issued). */
  readonly status: DeviceRecord['status']
  /** The approving user. */
  readonly sub?: string
  /** When the device code expires (mock clock, epoch ms). */
  readonly expiresAtMs: number
  /** Whether it has expired on the mock clock. */
  readonly expired: boolean
  /** The polling interval now in force, in seconds (grows with each `slow_down`). */
  readonly intervalS: number
}

/** How many entries each of the IdP's state maps holds now; {@link MockIdpLimits} caps them. */
export interface StateStats {
  /** Access-token records. */
  readonly accessTokens: number
  /** Refresh-token records (active, rotated and revoked). */
  readonly refreshTokens: number
  /** Grants. */
  readonly grants: number
  /** Authorization codes (used ones are kept until they expire, to detect reuse). */
  readonly codes: number
  /** Device authorizations. */
  readonly devices: number
  /** Login-form requests waiting for a user. */
  readonly pendingLogins: number
  /** Used `private_key_jwt` assertion ids. */
  readonly assertions: number
  /** Used DPoP proof ids, kept while their `iat` is in the window. */
  readonly dpopProofs: number
  /** Pushed authorization requests (RFC 9126) not yet used or expired. */
  readonly requestUris: number
  /** Journal entries. */
  readonly journal: number
}

/** What {@link MockIdpControl.tokens}.issue mints. */
export interface IssueTokenOptions {
  /** The client the tokens are for (must be registered). */
  readonly clientId: string
  /** The user; default the client itself (like client credentials). */
  readonly sub?: string
  /** Scopes, space separated or as an array. */
  readonly scope?: string | readonly string[]
  /** The `aud` of the access token. */
  readonly audience?: string | readonly string[]
  /** Issue a refresh token too (default: when the client may use the refresh grant and `sub` is a user). */
  readonly refresh?: boolean
  /** An ID token `nonce`. */
  readonly nonce?: string
  /**
   * Binds the access token to a DPoP key: its JWK SHA-256 thumbprint (RFC 7638), which becomes
   * `cnf.jkt` and makes `token_type` `DPoP` (RFC 9449 §6).
   */
  readonly jkt?: string
}

/** The DPoP nonce switch and the nonce now handed out (RFC 9449 §8). */
export interface DpopNonceInfo {
  /** Whether the control switch forces nonces on (`true`) or off (`false`), or leaves it to the settings (`undefined`). */
  readonly requireNonce: boolean | undefined
  /** The nonce a client gets in the `DPoP-Nonce` header now. */
  readonly nonce: string
}

/**
 * Drives the mock IdP from a test: users, clients, device codes, the clock, keys, faults, the
 * journal, claims and logins. Every method is also reachable over HTTP under the control prefix
 * (default `/_control`), so a test in another process can do the same.
 */
export interface MockIdpControl {
  /** Users who can log in. */
  readonly users: {
    /** Adds a user. @throws MockIdpError `ERR_DUPLICATE` when the sub or username is taken. */
    add(user: MockUser): MockUser
    /** Changes a user's username, password or claims (claims are replaced, not merged). */
    update(sub: string, patch: Omit<Partial<MockUser>, 'sub'>): MockUser
    /** Removes a user; resolves `true` when there was one. */
    remove(sub: string): boolean
    /** One user, or `undefined`. */
    get(sub: string): MockUser | undefined
    /** Every user. */
    list(): MockUser[]
  }
  /** Registered clients. */
  readonly clients: {
    /** Registers a client. @throws MockIdpError `ERR_DUPLICATE` when the id is taken. */
    add(client: MockClient): MockClient
    /** Unregisters a client; `true` when there was one. */
    remove(clientId: string): boolean
    /** One client, or `undefined`. */
    get(clientId: string): MockClient | undefined
    /** Every client. */
    list(): MockClient[]
  }
  /** Device authorizations (RFC 8628). */
  readonly devices: {
    /** Device authorizations, newest last; `status` narrows them. */
    list(filter?: { readonly status?: DeviceRecord['status'] }): DeviceInfo[]
    /** The newest pending one, or `undefined`. */
    latestPending(): DeviceInfo | undefined
    /**
     * Approves a pending user code for a user (default: the headless login user).
     * @throws MockIdpError `ERR_UNKNOWN_USER_CODE`, `ERR_DEVICE_CODE_STATE`, `ERR_UNKNOWN_USER`
     */
    approve(userCode: string, sub?: string): DeviceInfo
    /** Denies a pending user code: the next poll gets `access_denied`. */
    deny(userCode: string): DeviceInfo
    /** Makes a device code expire now: the next poll gets `expired_token`. */
    expire(userCode: string): DeviceInfo
  }
  /** The clock every expiry follows. */
  readonly clock: MockClock
  /** Signing keys. */
  readonly keys: {
    /**
     * Makes a new signing key active. The old key stays in JWKS (and keeps verifying) for
     * `graceMs` (default one hour) on the mock clock.
     */
    rotate(options?: { readonly graceMs?: number; readonly alg?: SigningAlg }): Promise<KeyInfo>
    /** Keys in JWKS now, the active one last. */
    list(): KeyInfo[]
  }
  /** Fault injection. */
  readonly faults: {
    /** Breaks the next `times` calls of an endpoint (see {@link FaultRule}). */
    inject(rule: FaultRule): void
    /** Active rules with their remaining counts. */
    list(): FaultRule[]
    /** Removes every rule. */
    clear(): void
  }
  /** The request journal. */
  readonly journal: {
    /** Entries, oldest first, optionally filtered. */
    entries(filter?: JournalFilter): JournalEntry[]
    /** Forgets every entry. */
    clear(): void
  }
  /** Per-test claim overrides. */
  readonly claims: {
    /** Merges claims into the next `times` token issuances (default 1). */
    override(overrides: ClaimOverrides, options?: { readonly times?: number }): void
    /** Drops every pending override. */
    clear(): void
  }
  /** Headless login. */
  readonly login: {
    /** The next headless login (authorize or device approval without a user) picks this user. */
    next(sub: string): void
  }
  /** Tokens without a client in the loop, for resource-server tests. */
  readonly tokens: {
    /** Issues tokens as the token endpoint would (recorded, introspectable, revocable). */
    issue(options: IssueTokenOptions): Promise<TokenResponse>
    /**
     * Signs arbitrary claims with the active key: a token that verifies against JWKS but whose
     * claims are whatever the test needs (expired, wrong audience, …). Not recorded.
     */
    sign(claims: Readonly<Record<string, unknown>>, options?: { readonly typ?: string }): Promise<string>
  }
  /** DPoP server nonces (RFC 9449 §8); over HTTP `GET /dpop` and `POST /dpop` with `{ requireNonce?, rotate? }`. */
  readonly dpop: {
    /**
     * Forces server nonces on (`true`: every client's proofs need one) or off (`false`), or
     * (`undefined`) leaves it to each client's `requireDpopNonce` and the `dpop.nonce` option.
     */
    requireNonce(on: boolean | undefined): DpopNonceInfo
    /** Hands out a new nonce now; the previous one stays good until the next rotation. */
    rotateNonce(): DpopNonceInfo
    /** The switch and the current nonce. */
    info(): DpopNonceInfo
  }
  /** How many entries each state map holds (over HTTP: `GET /stats`). */
  stats(): StateStats
  /** Forgets every grant, token, code, device code, fault and journal entry; users and clients go back to the options; the clock goes back to real time. */
  reset(): void
}

function deviceInfo(p: Provider, d: DeviceRecord): DeviceInfo {
  return {
    userCode: d.userCode,
    clientId: d.clientId,
    scope: d.scope.join(' '),
    status: d.status,
    ...(d.sub !== undefined ? { sub: d.sub } : {}),
    expiresAtMs: d.expMs,
    expired: d.expMs <= p.clock.now(),
    intervalS: d.intervalS,
  }
}

function dpopInfo(p: Provider): DpopNonceInfo {
  return { requireNonce: p.dpopNonceSwitch, nonce: p.dpopNonces.current() }
}

/** Builds the in-process control object of a provider. @internal */
export function createControl(p: Provider): MockIdpControl {
  return {
    users: {
      add(user) {
        const checked = checkUser(user)
        if (p.users.has(checked.sub))
          throw new MockIdpError('ERR_DUPLICATE', `a user with sub ${JSON.stringify(checked.sub)} exists`)
        p.addUser(checked)
        return checked
      },
      update(sub, patch) {
        const current = p.user(sub)
        const next = checkUser({ ...current, ...patch, sub })
        p.addUser(next)
        return next
      },
      remove: (sub) => p.users.delete(sub),
      get: (sub) => p.users.get(sub),
      list: () => [...p.users.values()],
    },
    clients: {
      add(client) {
        const checked = checkClient(client, p.settings.scopes)
        if (p.clients.has(checked.clientId))
          throw new MockIdpError(
            'ERR_DUPLICATE',
            `a client with id ${JSON.stringify(checked.clientId)} exists`,
          )
        p.clients.set(checked.clientId, checked)
        return checked
      },
      remove: (clientId) => p.clients.delete(clientId),
      get: (clientId) => p.clients.get(clientId),
      list: () => [...p.clients.values()],
    },
    devices: {
      list: (filter) =>
        [...p.state.devices.values()]
          .filter((d) => filter?.status === undefined || d.status === filter.status)
          .map((d) => deviceInfo(p, d)),
      latestPending() {
        const pending = [...p.state.devices.values()].filter(
          (d) => d.status === 'pending' && d.expMs > p.clock.now(),
        )
        const last = pending[pending.length - 1]
        return last ? deviceInfo(p, last) : undefined
      },
      approve: (userCode, sub) => deviceInfo(p, p.decideDevice(userCode, 'approve', sub)),
      deny: (userCode) => deviceInfo(p, p.decideDevice(userCode, 'deny')),
      expire(userCode) {
        const device = p.state.deviceForUserCode(userCode)
        ;(device as { expMs: number }).expMs = Math.min(device.expMs, p.clock.now())
        return deviceInfo(p, device)
      },
    },
    clock: p.clock,
    keys: {
      async rotate(options = {}) {
        const graceMs = options.graceMs ?? 3_600_000
        if (!(typeof graceMs === 'number' && graceMs >= 0 && Number.isFinite(graceMs))) {
          throw new MockIdpError(
            'ERR_INVALID_OPTION',
            `graceMs must be a non-negative number, got ${String(graceMs)}`,
          )
        }
        return p.keys.rotate(graceMs, options.alg)
      },
      list: () => p.keys.published().map(info),
    },
    faults: {
      inject: (rule) => p.faults.add(rule),
      list: () => p.faults.list(),
      clear: () => p.faults.clear(),
    },
    journal: {
      entries: (filter) => p.journal.entries(filter),
      clear: () => p.journal.clear(),
    },
    claims: {
      override(overrides, options = {}) {
        const times = options.times ?? 1
        if (!(times > 0))
          throw new MockIdpError('ERR_INVALID_OPTION', `times must be positive, got ${String(times)}`)
        p.overrideClaims(overrides, times)
      },
      clear: () => p.clearClaimOverrides(),
    },
    login: {
      next: (sub) => p.queueLogin(sub),
    },
    tokens: {
      async issue(options) {
        const client = p.client(options.clientId)
        const sub = options.sub ?? client.clientId
        const isUser = options.sub !== undefined
        if (isUser) p.user(sub)
        const scope =
          typeof options.scope === 'string'
            ? options.scope.split(' ').filter(Boolean)
            : [...(options.scope ?? [])]
        if (
          options.jkt !== undefined &&
          !(typeof options.jkt === 'string' && /^[A-Za-z0-9_-]{43}$/.test(options.jkt))
        ) {
          throw new MockIdpError(
            'ERR_INVALID_OPTION',
            'jkt must be the base64url SHA-256 JWK thumbprint of the DPoP key (RFC 7638, 43 characters)',
          )
        }
        const grant = isUser ? p.newGrant(client.clientId, sub, scope, p.clock.now()) : undefined
        return issueTokens(p, {
          client,
          grant,
          sub,
          scope,
          refresh:
            options.refresh ?? (isUser && (client.grantTypes ?? ['refresh_token']).includes('refresh_token')),
          nonce: options.nonce,
          audience: options.audience,
          jkt: options.jkt,
          refreshJkt: isConfidential(client) ? undefined : options.jkt,
        })
      },
      sign: (claims, options = {}) => signJwt(p, { ...claims }, options.typ ?? 'at+jwt'),
    },
    dpop: {
      requireNonce(on) {
        if (on !== undefined && typeof on !== 'boolean') {
          throw new MockIdpError(
            'ERR_INVALID_OPTION',
            `requireNonce takes true, false or undefined, got ${String(on)}`,
          )
        }
        p.dpopNonceSwitch = on
        return dpopInfo(p)
      },
      rotateNonce() {
        p.dpopNonces.rotate()
        return dpopInfo(p)
      },
      info: () => dpopInfo(p),
    },
    stats: () => p.stats(),
    reset() {
      p.resetState()
      p.clock.reset()
    },
  }
}
