/**
 * The mock IdP's state and the operations the endpoints and the control plane share: users,
 * clients, grants, codes, device codes, tokens, claim release. @internal
 *
 * @module
 */

import { createLocalJWKSet, type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { BoundedMap } from './bounded.ts'
import { MockClock } from './clock.ts'
import type { StateStats } from './control.ts'
import { MockIdpError } from './errors.ts'
import { Faults } from './faults.ts'
import { Journal } from './journal.ts'
import { KeyStore } from './keys.ts'
import type { Challenge } from './pkce.ts'
import type {
  AccessTokenFormat,
  GrantType,
  MockClient,
  MockIdpLimits,
  MockIdpOptions,
  MockIdpStrictness,
  MockUser,
  SigningAlg,
} from './types.ts'
import { halfHash, randomToken, userCode } from './util.ts'
import { fail, OAuthFailure } from './wire.ts'

/**
 * How long an expired code or device authorization is kept, so a late client still hears
 * "expired" (`expired_token` for a device) rather than "unknown".
 */
const EXPIRED_RETAIN_MS = 10 * 60 * 1000

/** Every grant type this IdP implements, in discovery order. */
export const ALL_GRANTS: readonly GrantType[] = [
  'authorization_code',
  'urn:ietf:params:oauth:grant-type:device_code',
  'client_credentials',
  'password',
  'refresh_token',
]

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

const STANDARD_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
}
const SCOPED_CLAIMS = new Set(Object.values(STANDARD_CLAIMS).flat())
/** Claims the IdP owns in its tokens; user claims and overrides never replace them in ID tokens. */
const PROTECTED_ID_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'azp',
  'at_hash',
])

/** Every claim the IdP may put in an ID token or userinfo answer, for discovery. */
export const SUPPORTED_CLAIMS: readonly string[] = [...PROTECTED_ID_CLAIMS, ...SCOPED_CLAIMS]

/** Resolved options with every default filled in. */
export interface Settings {
  readonly signingAlg: SigningAlg
  readonly keys: 'bundled' | 'generate'
  readonly accessTokenFormat: AccessTokenFormat
  readonly audience: string | readonly string[] | undefined
  readonly scopes: readonly string[]
  readonly accessTokenS: number
  readonly idTokenS: number
  readonly refreshTokenS: number
  readonly authorizationCodeS: number
  readonly deviceCodeS: number
  readonly deviceIntervalS: number
  readonly rotateRefreshTokens: boolean
  readonly registration: boolean
  readonly controlPrefix: string | false
  readonly login: 'headless' | 'form'
  readonly journalLimit: number
  readonly defaultUser: string | undefined
  /** `strict.scopes`: refuse instead of narrowing. */
  readonly strictScopes: boolean
  /** `strict.devicePolling`: no jitter allowance before `slow_down`. */
  readonly strictPolling: boolean
  /** Whether `http://localhost` redirect URIs match any port (clients may override). */
  readonly localhostAnyPort: boolean
  readonly pollToleranceMs: number
  readonly limits: Required<MockIdpLimits>
  readonly controlToken: string | undefined
}

/** The default caps of the state maps (documented on {@link MockIdpLimits}). */
export const DEFAULT_LIMITS: Required<MockIdpLimits> = {
  accessTokens: 100_000,
  refreshTokens: 100_000,
  grants: 100_000,
  codes: 10_000,
  devices: 10_000,
  pendingLogins: 10_000,
  assertions: 10_000,
}

/** A user's consent and login, the root every token of one login hangs from. */
export interface Grant {
  readonly id: string
  readonly clientId: string
  readonly sub: string
  readonly scope: readonly string[]
  readonly authTimeMs: number | undefined
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
  revoked: boolean
}

export interface RefreshRecord {
  readonly token: string
  readonly grantId: string
  readonly clientId: string
  readonly iatMs: number
  readonly expMs: number
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
  used: boolean
  grantId: string | undefined
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
}

/** A pending authorization request waiting for the login form. */
export interface PendingLogin {
  readonly params: ReadonlyMap<string, string>
  readonly client: MockClient
  readonly expMs: number
}

/** Per-test claim overrides. */
export interface ClaimOverrides {
  /** Merged into JWT access tokens (and introspection answers). */
  readonly accessToken?: Readonly<Record<string, unknown>>
  /** Merged into ID tokens (protected claims like `iss`, `sub`, `nonce` are not replaced). */
  readonly idToken?: Readonly<Record<string, unknown>>
  /** Merged into userinfo answers. */
  readonly userinfo?: Readonly<Record<string, unknown>>
}

export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope?: string
  refresh_token?: string
  id_token?: string
}

export function resolveSettings(options: MockIdpOptions): Settings {
  const lifetimes = options.lifetimes ?? {}
  const positive = (value: number | undefined, fallback: number, name: string): number => {
    if (value === undefined) return fallback
    if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `${name} must be a positive number of seconds, got ${String(value)}`,
      )
    }
    return value
  }
  const signingAlg = options.signingAlg ?? 'RS256'
  if (!['RS256', 'ES256', 'EdDSA'].includes(signingAlg)) {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `signingAlg must be RS256, ES256 or EdDSA, got ${String(signingAlg)}`,
    )
  }
  const controlPrefix = options.controlPrefix ?? '/_control'
  if (controlPrefix !== false && !/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(controlPrefix)) {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `controlPrefix must be a path like "/_control" or false, got ${JSON.stringify(controlPrefix)}`,
    )
  }
  const scopes = options.scopes ?? ['openid', 'profile', 'email', 'offline_access']
  for (const scope of scopes) {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `scope ${JSON.stringify(scope)} is not a valid scope token (RFC 6749 §3.3)`,
      )
    }
  }
  const strict: MockIdpStrictness =
    options.strict === true
      ? { scopes: true, devicePolling: true, localhostRedirects: true }
      : options.strict === false || options.strict === undefined
        ? {}
        : options.strict
  const limits: Record<string, number> = { ...DEFAULT_LIMITS }
  for (const [name, value] of Object.entries(options.limits ?? {})) {
    if (!(name in DEFAULT_LIMITS)) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `limits.${name} is not a limit; use ${Object.keys(DEFAULT_LIMITS).join(', ')}`,
      )
    }
    if (value === undefined) continue
    if (!(Number.isSafeInteger(value) && value > 0)) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `limits.${name} must be a positive integer, got ${String(value)}`,
      )
    }
    limits[name] = value
  }
  const tolerance = options.devicePollToleranceMs ?? 500
  if (!(typeof tolerance === 'number' && Number.isFinite(tolerance) && tolerance >= 0)) {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `devicePollToleranceMs must be a non-negative number of milliseconds, got ${String(tolerance)}`,
    )
  }
  const controlToken = options.controlToken
  if (
    controlToken !== undefined &&
    !(typeof controlToken === 'string' && /^[\x21-\x7e]{16,}$/.test(controlToken))
  ) {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      'controlToken must be at least 16 printable ASCII characters without spaces',
    )
  }
  return {
    signingAlg,
    keys: options.keys ?? 'bundled',
    accessTokenFormat: options.accessTokenFormat ?? 'jwt',
    audience: options.audience,
    scopes,
    accessTokenS: positive(lifetimes.accessTokenS, 3600, 'lifetimes.accessTokenS'),
    idTokenS: positive(lifetimes.idTokenS, 3600, 'lifetimes.idTokenS'),
    refreshTokenS: positive(lifetimes.refreshTokenS, 30 * 86400, 'lifetimes.refreshTokenS'),
    authorizationCodeS: positive(lifetimes.authorizationCodeS, 60, 'lifetimes.authorizationCodeS'),
    deviceCodeS: positive(lifetimes.deviceCodeS, 600, 'lifetimes.deviceCodeS'),
    deviceIntervalS: positive(options.deviceIntervalS, 5, 'deviceIntervalS'),
    rotateRefreshTokens: options.rotateRefreshTokens ?? true,
    registration: options.registration ?? true,
    controlPrefix,
    login: options.login ?? 'headless',
    journalLimit: options.journalLimit ?? 10_000,
    defaultUser: options.defaultUser,
    strictScopes: strict.scopes === true,
    strictPolling: strict.devicePolling === true,
    localhostAnyPort: strict.localhostRedirects !== true,
    pollToleranceMs: tolerance,
    limits: limits as Required<MockIdpLimits>,
    controlToken,
  }
}

/** Checks a user definition and fills in `username`. */
export function checkUser(user: MockUser): MockUser {
  if (typeof user?.sub !== 'string' || user.sub === '') {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `a user needs a non-empty string "sub", got ${JSON.stringify(user?.sub)}`,
    )
  }
  if (user.claims !== undefined && (typeof user.claims !== 'object' || user.claims === null)) {
    throw new MockIdpError('ERR_INVALID_OPTION', `user ${user.sub}: claims must be an object`)
  }
  return { ...user, username: user.username ?? user.sub }
}

/** Checks a client definition. */
export function checkClient(client: MockClient, supportedScopes: readonly string[]): MockClient {
  const id = client?.clientId
  if (typeof id !== 'string' || id === '') {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `a client needs a non-empty string "clientId", got ${JSON.stringify(id)}`,
    )
  }
  if (
    client.clientSecret !== undefined &&
    (typeof client.clientSecret !== 'string' || client.clientSecret === '')
  ) {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `client ${id}: clientSecret must be a non-empty string when given`,
    )
  }
  for (const uri of [...(client.redirectUris ?? []), ...(client.postLogoutRedirectUris ?? [])]) {
    let url: URL
    try {
      url = new URL(uri)
    } catch {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `client ${id}: redirect URI ${JSON.stringify(uri)} is not an absolute URL`,
      )
    }
    if (url.hash !== '') {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `client ${id}: redirect URI ${uri} must not have a fragment (RFC 6749 §3.1.2)`,
      )
    }
  }
  for (const grant of client.grantTypes ?? []) {
    if (!ALL_GRANTS.includes(grant)) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `client ${id}: unknown grant type ${JSON.stringify(grant)}; use one of ${ALL_GRANTS.join(', ')}`,
      )
    }
  }
  for (const scope of client.scopes ?? []) {
    if (!supportedScopes.includes(scope)) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `client ${id}: scope ${JSON.stringify(scope)} is not in the IdP's scopes (${supportedScopes.join(' ')})`,
      )
    }
  }
  const method = client.tokenEndpointAuthMethod
  const confidential = client.clientSecret !== undefined || client.jwks !== undefined
  if (method === 'none' && confidential) {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `client ${id}: tokenEndpointAuthMethod "none" contradicts a clientSecret/jwks`,
    )
  }
  if (
    (method === 'client_secret_basic' || method === 'client_secret_post') &&
    client.clientSecret === undefined
  ) {
    throw new MockIdpError('ERR_INVALID_OPTION', `client ${id}: ${method} needs a clientSecret`)
  }
  if (method === 'private_key_jwt' && client.jwks === undefined) {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `client ${id}: private_key_jwt needs jwks with the client's public keys`,
    )
  }
  if (client.requirePkce === false && !confidential) {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `client ${id}: a public client must use PKCE (RFC 9700 §2.1.1); drop requirePkce: false`,
    )
  }
  return client
}

export function isConfidential(client: MockClient): boolean {
  return client.clientSecret !== undefined || client.jwks !== undefined
}

export function grantsOf(client: MockClient): readonly GrantType[] {
  if (client.grantTypes) return client.grantTypes
  return isConfidential(client)
    ? ['authorization_code', DEVICE_GRANT, 'client_credentials', 'refresh_token']
    : ['authorization_code', DEVICE_GRANT, 'refresh_token']
}

/** The shared state of one mock IdP instance. Two instances share nothing. */
export class Provider {
  readonly settings: Settings
  readonly clock: MockClock = new MockClock()
  readonly keys: KeyStore = new KeyStore(this.clock)
  readonly journal: Journal
  readonly faults: Faults = new Faults()
  issuer: string
  basePath: string

  readonly #initialUsers: readonly MockUser[]
  readonly #initialClients: readonly MockClient[]
  users: Map<string, MockUser> = new Map()
  clients: Map<string, MockClient> = new Map()
  grants!: BoundedMap<string, Grant>
  accessTokens!: BoundedMap<string, AccessRecord>
  refreshTokens!: BoundedMap<string, RefreshRecord>
  codes!: BoundedMap<string, CodeRecord>
  devices!: BoundedMap<string, DeviceRecord>
  userCodes: Map<string, string> = new Map()
  pendingLogins!: BoundedMap<string, PendingLogin>
  usedAssertions!: BoundedMap<string, { readonly expMs: number }>
  claimOverrides: Array<{ overrides: ClaimOverrides; remaining: number }> = []
  loginQueue: string[] = []
  #jwks: ReturnType<typeof createLocalJWKSet> | undefined
  #jwksKids = ''

  constructor(options: MockIdpOptions) {
    this.settings = resolveSettings(options)
    this.journal = new Journal(this.settings.journalLimit)
    const { issuer, basePath } = parseIssuer(options.issuer ?? 'https://mock-idp.test')
    this.issuer = issuer
    this.basePath = basePath
    this.#initialUsers = (options.users ?? [{ sub: 'alice', password: 'alice', claims: DEMO_ALICE }]).map(
      checkUser,
    )
    this.#initialClients = (options.clients ?? []).map((c) => checkClient(c, this.settings.scopes))
    if (
      this.settings.defaultUser !== undefined &&
      !this.#initialUsers.some((u) => u.sub === this.settings.defaultUser)
    ) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `defaultUser ${JSON.stringify(this.settings.defaultUser)} is not one of the users`,
      )
    }
    this.resetState()
  }

  /** Creates the first signing key. */
  async init(): Promise<void> {
    await this.keys.init(this.settings.signingAlg, this.settings.keys)
  }

  /** Moves to a new issuer (after `serve()` learns its port). */
  setIssuer(issuer: string): void {
    const parsed = parseIssuer(issuer)
    this.issuer = parsed.issuer
    this.basePath = parsed.basePath
  }

  /** Forgets every grant, token, code and journal entry; users and clients go back to the options. */
  resetState(): void {
    this.users = new Map()
    for (const user of this.#initialUsers) this.addUser(user)
    this.clients = new Map(this.#initialClients.map((c) => [c.clientId, c]))
    const now = () => this.clock.now()
    const limits = this.settings.limits
    this.grants = new BoundedMap(limits.grants, now)
    this.accessTokens = new BoundedMap(limits.accessTokens, now)
    this.refreshTokens = new BoundedMap(limits.refreshTokens, now)
    this.codes = new BoundedMap(limits.codes, now, EXPIRED_RETAIN_MS)
    this.userCodes = new Map()
    this.devices = new BoundedMap(limits.devices, now, EXPIRED_RETAIN_MS, (device) =>
      this.userCodes.delete(device.userCode),
    )
    this.pendingLogins = new BoundedMap(limits.pendingLogins, now)
    this.usedAssertions = new BoundedMap(limits.assertions, now)
    this.claimOverrides = []
    this.loginQueue = []
    this.faults.clear()
    this.journal.clear()
  }

  /** How many entries each state map holds. */
  stats(): StateStats {
    return {
      accessTokens: this.accessTokens.size,
      refreshTokens: this.refreshTokens.size,
      grants: this.grants.size,
      codes: this.codes.size,
      devices: this.devices.size,
      pendingLogins: this.pendingLogins.size,
      assertions: this.usedAssertions.size,
      journal: this.journal.size,
    }
  }

  /** The absolute URL of an endpoint path like `/token`. */
  url(path: string): string {
    return `${this.issuer}${path}`
  }

  addUser(user: MockUser): void {
    const checked = checkUser(user)
    for (const existing of this.users.values()) {
      if (existing.sub !== checked.sub && existing.username === checked.username) {
        throw new MockIdpError(
          'ERR_DUPLICATE',
          `username ${JSON.stringify(checked.username)} is taken by user ${existing.sub}`,
        )
      }
    }
    this.users.set(checked.sub, checked)
  }

  user(sub: string): MockUser {
    const user = this.users.get(sub)
    if (!user) {
      throw new MockIdpError(
        'ERR_UNKNOWN_USER',
        `no user with sub ${JSON.stringify(sub)}; known: ${[...this.users.keys()].join(', ') || 'none'}`,
      )
    }
    return user
  }

  userByLogin(login: string): MockUser | undefined {
    return this.users.get(login) ?? [...this.users.values()].find((u) => u.username === login)
  }

  client(clientId: string): MockClient {
    const client = this.clients.get(clientId)
    if (!client) {
      throw new MockIdpError(
        'ERR_UNKNOWN_CLIENT',
        `no client with id ${JSON.stringify(clientId)}; known: ${[...this.clients.keys()].join(', ') || 'none'}`,
      )
    }
    return client
  }

  /**
   * The scopes a client is granted of those it asked for: the ones it may have (RFC 6749 §3.3
   * lets the server grant less and say so), or with `strict.scopes` an `invalid_scope` refusal.
   * `refused` lists scopes this request may never get, with the reason, e.g. `openid` on client
   * credentials.
   */
  grantScope(
    client: MockClient,
    requested: readonly string[],
    refused?: { readonly scopes: readonly string[]; readonly reason: string },
  ): readonly string[] {
    const allowed = client.scopes ?? this.settings.scopes
    const never = requested.filter((s) => refused?.scopes.includes(s))
    const unknown = requested.filter((s) => !allowed.includes(s) && !never.includes(s))
    if (this.settings.strictScopes && (never.length > 0 || unknown.length > 0)) {
      const problem =
        never.length > 0
          ? `${refused?.reason ?? 'it is not allowed'}; drop ${quoted(never)}`
          : `scope ${quoted(unknown)} is not allowed for client ${client.clientId}`
      throw fail(
        'invalid_scope',
        `${problem} (refused because strict.scopes is on; without it the IdP grants the allowed scopes)`,
      )
    }
    return requested.filter((s) => allowed.includes(s) && !never.includes(s))
  }

  // ---- grants and tokens -------------------------------------------------------------------

  newGrant(clientId: string, sub: string, scope: readonly string[], authTimeMs: number | undefined): Grant {
    const grant: Grant = {
      id: randomToken(12),
      clientId,
      sub,
      scope,
      authTimeMs,
      revoked: false,
      accessIds: new Set(),
      refreshTokens: new Set(),
      expMs: this.clock.now() + this.settings.accessTokenS * 1000,
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

  #takeOverrides(): ClaimOverrides {
    const head = this.claimOverrides[0]
    if (!head) return {}
    head.remaining -= 1
    if (head.remaining <= 0) this.claimOverrides.shift()
    return head.overrides
  }

  /** Claims of a user released for `scope` (OIDC Core §5.4). */
  releasedClaims(user: MockUser | undefined, scope: readonly string[]): Record<string, unknown> {
    if (!user?.claims) return {}
    const allowed = new Set(scope.flatMap((s) => STANDARD_CLAIMS[s] ?? []))
    const out: Record<string, unknown> = {}
    for (const [name, value] of Object.entries(user.claims)) {
      if (!SCOPED_CLAIMS.has(name) || allowed.has(name)) out[name] = value
    }
    return out
  }

  async signJwt(payload: JWTPayload, typ: string): Promise<string> {
    const key = this.keys.active
    return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ }).sign(key.privateKey)
  }

  /**
   * Issues an access token (and optionally refresh and ID tokens) for a grant, and answers the
   * token endpoint's success body (RFC 6749 §5.1).
   */
  async issue(input: {
    readonly client: MockClient
    readonly grant: Grant | undefined
    readonly sub: string
    readonly scope: readonly string[]
    readonly refresh: boolean
    readonly nonce?: string | undefined
    readonly audience?: string | readonly string[] | undefined
    /** What the client asked for; when the grant differs, the response's `scope` says so even if empty. */
    readonly requested?: readonly string[] | undefined
  }): Promise<TokenResponse> {
    const { client, grant, sub, scope } = input
    const now = this.clock.now()
    const overrides = this.#takeOverrides()
    const user = this.users.get(sub)
    const format = client.accessTokenFormat ?? this.settings.accessTokenFormat
    const aud = input.audience ?? client.audience ?? this.settings.audience ?? this.issuer
    const expMs = now + this.settings.accessTokenS * 1000
    const id = randomToken(format === 'opaque' ? 32 : 16)
    const record: AccessRecord = {
      id,
      format,
      clientId: client.clientId,
      sub,
      scope,
      aud,
      iatMs: now,
      expMs,
      grantId: grant?.id,
      username: user?.username,
      revoked: false,
    }
    this.accessTokens.set(id, record)
    if (grant) {
      grant.accessIds.add(id)
      grant.expMs = Math.max(grant.expMs, expMs)
    }
    const accessToken =
      format === 'opaque'
        ? id
        : await this.signJwt(
            {
              ...overrides.accessToken,
              iss: this.issuer,
              sub,
              aud: aud as string | string[],
              exp: Math.floor(expMs / 1000),
              iat: Math.floor(now / 1000),
              jti: id,
              client_id: client.clientId,
              ...(scope.length > 0 ? { scope: scope.join(' ') } : {}),
              ...(grant?.authTimeMs !== undefined ? { auth_time: Math.floor(grant.authTimeMs / 1000) } : {}),
            },
            'at+jwt',
          )
    const body: TokenResponse = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: this.settings.accessTokenS,
      ...(scope.length > 0 || narrowed(input.requested, scope) ? { scope: scope.join(' ') } : {}),
    }
    if (input.refresh && grant) {
      const token = randomToken(32)
      this.refreshTokens.set(token, {
        token,
        grantId: grant.id,
        clientId: client.clientId,
        iatMs: now,
        expMs: now + this.settings.refreshTokenS * 1000,
        status: 'active',
      })
      grant.refreshTokens.add(token)
      grant.expMs = Math.max(grant.expMs, now + this.settings.refreshTokenS * 1000)
      body.refresh_token = token
    }
    if (scope.includes('openid') && user) {
      body.id_token = await this.signJwt(
        {
          ...this.releasedClaims(user, scope),
          ...protectedOmitted(overrides.idToken),
          iss: this.issuer,
          sub,
          aud: client.clientId,
          azp: client.clientId,
          exp: Math.floor((now + this.settings.idTokenS * 1000) / 1000),
          iat: Math.floor(now / 1000),
          ...(grant?.authTimeMs !== undefined ? { auth_time: Math.floor(grant.authTimeMs / 1000) } : {}),
          ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
          at_hash: await halfHash(accessToken),
        },
        'JWT',
      )
    }
    return body
  }

  /** The userinfo overrides of the override at the head of the queue (not consumed by userinfo). */
  userinfoOverrides(): Readonly<Record<string, unknown>> {
    return this.claimOverrides[0]?.overrides.userinfo ?? {}
  }

  /** Finds the record of a live access token (JWT or opaque); `undefined` when invalid. */
  async findAccessToken(token: string): Promise<{ record: AccessRecord; claims?: JWTPayload } | undefined> {
    const opaque = this.accessTokens.get(token)
    if (opaque) return this.#live(opaque) ? { record: opaque } : undefined
    if (token.split('.').length !== 3) return undefined
    let claims: JWTPayload
    try {
      ;({ payload: claims } = await jwtVerify(token, this.#localJwks(), {
        issuer: this.issuer,
        typ: 'at+jwt',
        currentDate: new Date(this.clock.now()),
        algorithms: ['RS256', 'ES256', 'EdDSA'],
      }))
    } catch (error) {
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return undefined
      throw error
    }
    const record = typeof claims.jti === 'string' ? this.accessTokens.get(claims.jti) : undefined
    if (record?.format !== 'jwt' || !this.#live(record)) return undefined
    return { record, claims }
  }

  #live(record: AccessRecord): boolean {
    if (record.revoked || record.expMs <= this.clock.now()) return false
    const grant = record.grantId === undefined ? undefined : this.grants.get(record.grantId)
    return !grant?.revoked
  }

  /** A JWKS resolver over the currently published keys (rebuilt when they change). */
  #localJwks(): ReturnType<typeof createLocalJWKSet> {
    const published = this.keys.published()
    const kids = published.map((k) => k.kid).join(',')
    if (!this.#jwks || kids !== this.#jwksKids) {
      this.#jwks = createLocalJWKSet({ keys: published.map((k) => k.publicJwk) })
      this.#jwksKids = kids
    }
    return this.#jwks
  }

  /** Verifies a JWT this IdP signed, at any time (for `id_token_hint`, which may be expired). */
  async verifyOwnJwt(token: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.#localJwks(), {
        issuer: this.issuer,
        algorithms: ['RS256', 'ES256', 'EdDSA'],
        currentDate: new Date(0),
        clockTolerance: Number.MAX_SAFE_INTEGER,
      })
      return payload
    } catch {
      return undefined
    }
  }

  // ---- device codes ------------------------------------------------------------------------

  newDevice(
    clientId: string,
    scope: readonly string[],
    pkce: Challenge = { codeChallenge: undefined, method: undefined },
    requestedScope: readonly string[] = scope,
  ): DeviceRecord {
    const now = this.clock.now()
    let code = userCode()
    while (this.userCodes.has(code)) code = userCode()
    const device: DeviceRecord = {
      deviceCode: randomToken(32),
      userCode: code,
      clientId,
      scope,
      requestedScope,
      createdAtMs: now,
      expMs: now + this.settings.deviceCodeS * 1000,
      intervalS: this.settings.deviceIntervalS,
      lastPollMs: undefined,
      status: 'pending',
      sub: undefined,
      authTimeMs: undefined,
      pkce,
    }
    this.devices.set(device.deviceCode, device)
    this.userCodes.set(device.userCode, device.deviceCode)
    return device
  }

  /** The device record for a user code that a person or test may act on. */
  deviceForUserCode(code: string): DeviceRecord {
    const deviceCode = this.userCodes.get(code)
    const device = deviceCode === undefined ? undefined : this.devices.get(deviceCode)
    if (!device)
      throw new MockIdpError(
        'ERR_UNKNOWN_USER_CODE',
        `no device authorization with user code ${JSON.stringify(code)}`,
      )
    return device
  }

  decideDevice(code: string, decision: 'approve' | 'deny', sub?: string): DeviceRecord {
    const device = this.deviceForUserCode(code)
    if (device.status !== 'pending') {
      throw new MockIdpError('ERR_DEVICE_CODE_STATE', `user code ${code} is ${device.status}, not pending`)
    }
    if (device.expMs <= this.clock.now()) {
      throw new MockIdpError('ERR_DEVICE_CODE_STATE', `user code ${code} has expired`)
    }
    if (decision === 'deny') {
      device.status = 'denied'
      return device
    }
    const user = sub === undefined ? this.defaultLoginUser() : this.user(sub)
    device.status = 'approved'
    device.sub = user.sub
    device.authTimeMs = this.clock.now()
    return device
  }

  /** The user a headless login picks: the control queue, else `defaultUser`, else the first user. */
  defaultLoginUser(): MockUser {
    const queued = this.loginQueue.shift()
    if (queued !== undefined) return this.user(queued)
    if (this.settings.defaultUser !== undefined) return this.user(this.settings.defaultUser)
    const first = this.users.values().next()
    if (first.done)
      throw new MockIdpError(
        'ERR_UNKNOWN_USER',
        'the mock IdP has no users; add one with control.users.add()',
      )
    return first.value
  }

  /** Single-use `jti` bookkeeping for client assertions, pruned by expiry. */
  useAssertion(jti: string, expMs: number): boolean {
    if (this.usedAssertions.has(jti)) return false
    this.usedAssertions.set(jti, { expMs })
    return true
  }
}

/** Whether the granted scope differs from what was asked for (RFC 6749 §5.1 then requires `scope`). */
function narrowed(requested: readonly string[] | undefined, granted: readonly string[]): boolean {
  return requested?.some((s) => !granted.includes(s)) === true
}

function quoted(values: readonly string[]): string {
  return values.map((s) => JSON.stringify(s)).join(', ')
}

function protectedOmitted(claims: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  if (!claims) return {}
  return Object.fromEntries(Object.entries(claims).filter(([name]) => !PROTECTED_ID_CLAIMS.has(name)))
}

/** Parses and normalizes an issuer identifier (RFC 8414 §2: https or loopback http, no query/fragment). */
export function parseIssuer(issuer: string): { issuer: string; basePath: string } {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    throw new MockIdpError('ERR_INVALID_OPTION', `issuer ${JSON.stringify(issuer)} is not an absolute URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new MockIdpError('ERR_INVALID_OPTION', `issuer must be an http(s) URL, got ${issuer}`)
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new MockIdpError(
      'ERR_INVALID_OPTION',
      `issuer must not have a query, fragment or credentials: ${issuer}`,
    )
  }
  const basePath = url.pathname.replace(/\/+$/, '')
  return { issuer: `${url.origin}${basePath}`, basePath }
}

const DEMO_ALICE = {
  name: 'Alice Example',
  given_name: 'Alice',
  family_name: 'Example',
  preferred_username: 'alice',
  email: 'alice@example.com',
  email_verified: true,
} as const

export { OAuthFailure }
