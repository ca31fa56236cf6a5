/**
 * The mock IdP's options resolved into settings, and the checks of users, clients and the issuer
 * that the options and the control plane share. @internal
 *
 * @module
 */
import { MockIdpError } from './errors.ts'
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

/** Every grant type this IdP implements, in discovery order. */
export const ALL_GRANTS: readonly GrantType[] = [
  'authorization_code',
  'urn:ietf:params:oauth:grant-type:device_code',
  'client_credentials',
  'password',
  'refresh_token',
]

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

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
  /** `dpop.nonce`: every client's proofs need a server nonce (clients may override). */
  readonly dpopNonce: boolean
  readonly dpopNonceLifetimeS: number
  readonly dpopProofWindowS: number
  /** `requirePushedAuthorizationRequests` (clients may override). */
  readonly requirePar: boolean
  readonly requestUriS: number
  /** The resource indicators clients may ask for; `undefined`: any valid one. */
  readonly resources: readonly string[] | undefined
  /** `strict.resources`: refuse a resource indicator with a query. */
  readonly strictResources: boolean
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
  dpopProofs: 100_000,
  requestUris: 10_000,
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
      ? { scopes: true, devicePolling: true, localhostRedirects: true, resources: true }
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
  const dpop = options.dpop ?? {}
  const resources = options.resources
  if (resources !== undefined && !Array.isArray(resources)) {
    throw new MockIdpError('ERR_INVALID_OPTION', 'resources must be an array of absolute URIs')
  }
  for (const resource of resources ?? []) {
    const problem = resourceProblem(resource)
    if (problem !== undefined) throw new MockIdpError('ERR_INVALID_OPTION', `resources: ${problem}`)
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
    dpopNonce: dpop.nonce === true,
    dpopNonceLifetimeS: positive(dpop.nonceLifetimeS, 300, 'dpop.nonceLifetimeS'),
    dpopProofWindowS: positive(dpop.proofWindowS, 300, 'dpop.proofWindowS'),
    requirePar: options.requirePushedAuthorizationRequests === true,
    requestUriS: positive(lifetimes.requestUriS, 60, 'lifetimes.requestUriS'),
    resources,
    strictResources: strict.resources === true,
  }
}

/**
 * What is wrong with a resource indicator by RFC 8707 §2 (an absolute URI without a fragment), or
 * `undefined` when nothing is. @internal
 */
export function resourceProblem(resource: unknown): string | undefined {
  if (typeof resource !== 'string' || resource === '')
    return `a resource must be a non-empty string, got ${JSON.stringify(resource)}`
  const shown = JSON.stringify(resource.length > 200 ? `${resource.slice(0, 200)}…` : resource)
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/.test(resource) || !URL.canParse(resource)) {
    return `resource ${shown} is not an absolute URI (RFC 8707 §2)`
  }
  if (resource.includes('#')) return `resource ${shown} has a fragment, which RFC 8707 §2 forbids`
  return undefined
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
  for (const flag of [
    'dpopBoundAccessTokens',
    'requireDpopNonce',
    'requirePushedAuthorizationRequests',
  ] as const) {
    const value = client[flag]
    if (value !== undefined && typeof value !== 'boolean') {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `client ${id}: ${flag} must be true or false, got ${JSON.stringify(value)}`,
      )
    }
  }
  if (client.resources !== undefined && !Array.isArray(client.resources)) {
    throw new MockIdpError('ERR_INVALID_OPTION', `client ${id}: resources must be an array of absolute URIs`)
  }
  for (const resource of client.resources ?? []) {
    const problem = resourceProblem(resource)
    if (problem !== undefined) throw new MockIdpError('ERR_INVALID_OPTION', `client ${id}: ${problem}`)
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

/** The claims of the default user, `alice` (password `alice`). */
export const DEMO_ALICE = {
  name: 'Alice Example',
  given_name: 'Alice',
  family_name: 'Example',
  preferred_username: 'alice',
  email: 'alice@example.com',
  email_verified: true,
} as const
