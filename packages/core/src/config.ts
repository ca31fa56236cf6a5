/**
 * Provider and client configuration: validation, provider and client resolution (as openEO does
 * it, without its pitfalls), scopes. @module
 */

import type { ClientEntry, KeyfobConfig, ProviderEntry } from './contracts.ts'
import { DPOP_ALGORITHMS } from './dpop.ts'
import { KeyfobError } from './errors.ts'

/** The grants a client can be resolved for. */
export type Grant = 'device' | 'authorization_code' | 'refresh_token' | 'client_credentials' | 'password'

/** A resolved provider. */
export interface ResolvedProvider {
  /** Its id in the configuration. */
  readonly id: string
  /** Its settings. */
  readonly provider: ProviderEntry
}

/**
 * The rule for provider ids (configured, imported or advertised by an API): a letter or digit, then
 * up to 63 letters, digits, `.`, `_` or `-`. openEO puts the id in its bearer tokens
 * (`oidc/<id>/<token>`) and tools print it, so nothing else (no `/`, no spaces, no control
 * characters) is accepted.
 *
 * @param id - A candidate id.
 * @returns Whether `id` follows the rule.
 * @example
 * ```ts
 * isProviderId('egi') // true
 * isProviderId('a/b') // false
 * ```
 */
export function isProviderId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id)
}

/**
 * The parameters a client sets itself in authorization and device-authorization requests. Extra
 * `authorizationParameters` (openEO's `authorization_parameters`, from an API or the configuration)
 * may not name them: they are applied before the protocol parameters and could otherwise redirect
 * the code (`redirect_uri`), defeat CSRF protection (`state`), PKCE (`code_challenge`) or the
 * client binding (`client_id`).
 *
 * @example
 * ```ts
 * RESERVED_AUTHORIZATION_PARAMETERS.includes('redirect_uri') // true
 * ```
 */
export const RESERVED_AUTHORIZATION_PARAMETERS: readonly string[] = Object.freeze([
  'response_type',
  'response_mode',
  'client_id',
  'client_secret',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'code_verifier',
  'grant_type',
  'device_code',
  'request',
  'request_uri',
])

/**
 * Checks extra authorization parameters: an object of strings naming none of
 * {@link RESERVED_AUTHORIZATION_PARAMETERS}.
 *
 * @param value - The parameters (parsed JSON).
 * @returns A description of the first problem, or `undefined` when they are fine.
 * @example
 * ```ts
 * authorizationParametersProblem({ prompt: 'login' }) // undefined
 * authorizationParametersProblem({ redirect_uri: 'https://evil.example' })
 * // 'names "redirect_uri", which the client sets itself (reserved: ...)'
 * ```
 */
export function authorizationParametersProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'must be an object of strings'
  for (const [name, v] of Object.entries(value)) {
    if (typeof v !== 'string') return `parameter ${JSON.stringify(name)} must be a string`
    if (RESERVED_AUTHORIZATION_PARAMETERS.includes(name.toLowerCase()))
      return `names ${JSON.stringify(name)}, which the client sets itself (reserved: ${RESERVED_AUTHORIZATION_PARAMETERS.join(', ')})`
  }
  return undefined
}

/**
 * Checks a resource indicator (RFC 8707 §2): an absolute URI without a fragment.
 *
 * @param value - A candidate resource indicator.
 * @returns A description of the problem, or `undefined` when it is fine.
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 * @example
 * ```ts
 * resourceProblem('https://api.example/') // undefined
 * resourceProblem('https://api.example/#x') // 'must not have a fragment (RFC 8707 §2), got "https://api.example/#x"'
 * ```
 */
export function resourceProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !URL.canParse(value))
    return `must be an absolute URI (RFC 8707 §2), got ${JSON.stringify(value)}`
  if (value.includes('#')) return `must not have a fragment (RFC 8707 §2), got ${JSON.stringify(value)}`
  return undefined
}

/**
 * The resource indicators of a setting as a list: a string is one, an array several, nothing none.
 *
 * @param resource - A provider's `resource` setting, or a `--resource` list.
 * @returns The list (empty for none).
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` naming a value that is not an absolute URI without a fragment.
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 * @example
 * ```ts
 * resourcesOf('https://api.example/') // ['https://api.example/']
 * ```
 */
export function resourcesOf(resource: string | readonly string[] | undefined): readonly string[] {
  const list = resource === undefined ? [] : typeof resource === 'string' ? [resource] : resource
  for (const r of list) {
    const problem = resourceProblem(r)
    if (problem)
      throw new KeyfobError('ERR_INVALID_ARGUMENT', `resource ${problem}`, { cause: { resource: r } })
  }
  return list
}

/**
 * Checks a configuration read from disk or built by hand, field by field, and names the first
 * problem. A mistake is an error, not a skipped entry: the configuration is written by the user,
 * and acting on part of it (a provider silently missing, a client without its secret) would
 * surprise them more than being told what to fix. Unknown fields are kept (a newer version may
 * have written them). A message never contains a secret's value.
 *
 * Provider ids follow {@link isProviderId}; `constructor` and `prototype` are reserved (with
 * `__proto__`, which the rule already refuses, they would reach an object's prototype instead of an
 * entry). `authorizationParameters` may not name {@link RESERVED_AUTHORIZATION_PARAMETERS}. A
 * provider's `dpop` is a boolean or `{ alg }` with an algorithm of {@link DPOP_ALGORITHMS}; `par`
 * is a boolean or `'auto'`; `resource` is a URI or a non-empty array of URIs, each absolute and
 * without a fragment ({@link resourceProblem}).
 *
 * @param value - The parsed JSON.
 * @returns The configuration, typed.
 * @throws KeyfobError `ERR_INVALID_CONFIG` naming the offending field (`cause.field`, e.g.
 *   `providers.egi.client.clientId`).
 * @example
 * ```ts
 * const config = validateConfig(JSON.parse(text))
 * ```
 */
export function validateConfig(value: unknown): KeyfobConfig {
  const bad = (where: string, what: string): never => {
    throw new KeyfobError('ERR_INVALID_CONFIG', `configuration ${where}: ${what}`, {
      cause: { field: where },
    })
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
  const object = (v: unknown, where: string): Record<string, unknown> =>
    isObject(v) ? v : bad(where, 'must be an object')
  const optionalString = (v: unknown, where: string): void => {
    if (v !== undefined && typeof v !== 'string') bad(where, 'must be a string')
  }
  const optionalStrings = (v: unknown, where: string): void => {
    if (v !== undefined && !(Array.isArray(v) && v.every((s) => typeof s === 'string')))
      bad(where, 'must be an array of strings')
  }
  const RESERVED = new Set(['__proto__', 'constructor', 'prototype'])
  const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none']
  const client = (v: unknown, where: string): void => {
    const c = object(v, where)
    if (typeof c.clientId !== 'string' || c.clientId === '')
      bad(`${where}.clientId`, 'must be a non-empty string')
    optionalString(c.clientSecret, `${where}.clientSecret`)
    optionalStrings(c.grantTypes, `${where}.grantTypes`)
    if (
      c.tokenEndpointAuthMethod !== undefined &&
      !AUTH_METHODS.includes(c.tokenEndpointAuthMethod as string)
    )
      bad(`${where}.tokenEndpointAuthMethod`, `must be one of ${AUTH_METHODS.join(', ')}`)
  }

  const config = object(value, 'root')
  if (typeof config.version !== 'number' || !Number.isInteger(config.version) || config.version < 1)
    bad('version', 'must be a schema version number ≥ 1')
  const providers = object(config.providers ?? {}, 'providers')
  for (const [id, entry] of Object.entries(providers)) {
    if (!isProviderId(id) || RESERVED.has(id))
      bad(
        `providers[${JSON.stringify(id)}]`,
        RESERVED.has(id)
          ? 'is a reserved name; choose another provider id'
          : 'a provider id must be a letter or digit, then up to 63 letters, digits, ".", "_" or "-"',
      )
    const where = `providers.${id}`
    const p = object(entry, where)
    if (typeof p.issuer !== 'string' || !URL.canParse(p.issuer))
      bad(`${where}.issuer`, `must be an absolute URL, got ${JSON.stringify(p.issuer)}`)
    optionalString(p.title, `${where}.title`)
    optionalStrings(p.scopes, `${where}.scopes`)
    if (p.client !== undefined) client(p.client, `${where}.client`)
    if (p.defaultClients !== undefined) {
      if (!Array.isArray(p.defaultClients)) bad(`${where}.defaultClients`, 'must be an array')
      for (const [i, c] of (p.defaultClients as unknown[]).entries())
        client(c, `${where}.defaultClients[${i}]`)
    }
    if (p.authorizationParameters !== undefined) {
      const problem = authorizationParametersProblem(p.authorizationParameters)
      if (problem) bad(`${where}.authorizationParameters`, problem)
    }
    if (
      p.redirectPort !== undefined &&
      !(
        Number.isInteger(p.redirectPort) &&
        (p.redirectPort as number) >= 1 &&
        (p.redirectPort as number) <= 65_535
      )
    )
      bad(`${where}.redirectPort`, 'must be a port number (1–65535)')
    if (p.dpop !== undefined && typeof p.dpop !== 'boolean') {
      const dpop = object(p.dpop, `${where}.dpop`)
      if (dpop.alg !== undefined && !(typeof dpop.alg === 'string' && DPOP_ALGORITHMS.includes(dpop.alg)))
        bad(`${where}.dpop.alg`, `must be one of ${DPOP_ALGORITHMS.join(', ')}`)
    }
    if (p.par !== undefined && typeof p.par !== 'boolean' && p.par !== 'auto')
      bad(`${where}.par`, 'must be true, false or "auto"')
    if (p.resource !== undefined) {
      const list = typeof p.resource === 'string' ? [p.resource] : p.resource
      if (!Array.isArray(list) || list.length === 0)
        bad(`${where}.resource`, 'must be a URI or a non-empty array of URIs')
      for (const [i, r] of (list as unknown[]).entries()) {
        const problem = resourceProblem(r)
        if (problem)
          bad(typeof p.resource === 'string' ? `${where}.resource` : `${where}.resource[${i}]`, problem)
      }
    }
  }
  const apis = object(config.apis ?? {}, 'apis')
  for (const [url, entry] of Object.entries(apis)) {
    const where = `apis[${JSON.stringify(url)}]`
    if (!URL.canParse(url)) bad(where, 'the key must be an API base URL')
    const api = object(entry, where)
    optionalStrings(api.providers, `${where}.providers`)
    optionalString(api.defaultProvider, `${where}.defaultProvider`)
    if (api.basic !== undefined) {
      const basic = object(api.basic, `${where}.basic`)
      if (typeof basic.username !== 'string') bad(`${where}.basic.username`, 'must be a string')
      if (typeof basic.password !== 'string') bad(`${where}.basic.password`, 'must be a string')
    }
  }
  if (config.defaultProvider !== undefined) {
    if (typeof config.defaultProvider !== 'string') bad('defaultProvider', 'must be a string')
    if (!Object.hasOwn(providers, config.defaultProvider as string))
      bad(
        'defaultProvider',
        `names ${JSON.stringify(config.defaultProvider)}, which is not a configured provider`,
      )
  }
  optionalString(config.defaultAccount, 'defaultAccount')
  if (config.tokenLocations !== undefined) {
    if (!Array.isArray(config.tokenLocations)) bad('tokenLocations', 'must be an array')
    for (const [i, entry] of (config.tokenLocations as unknown[]).entries()) {
      const where = `tokenLocations[${i}]`
      const l = object(entry, where)
      if (typeof l.issuer !== 'string') bad(`${where}.issuer`, 'must be a string')
      if (typeof l.clientId !== 'string') bad(`${where}.clientId`, 'must be a string')
      optionalString(l.account, `${where}.account`)
      if (l.store !== 'keychain') bad(`${where}.store`, 'must be "keychain"')
    }
  }
  return {
    ...(config as unknown as KeyfobConfig),
    providers: providers as KeyfobConfig['providers'],
    apis: apis as KeyfobConfig['apis'],
  }
}

/**
 * Normalizes an API base URL the same way everywhere (CLI and library): `https://` added when no
 * scheme is given, lower-case host, no trailing slash, no query or fragment.
 *
 * @param input - What the user typed, e.g. `openeo.example/api/`.
 * @returns The key under which the API is stored, e.g. `https://openeo.example/api`.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for something that is not a URL.
 * @example
 * ```ts
 * normalizeApiUrl('Openeo.Example/api/') // 'https://openeo.example/api'
 * ```
 */
export function normalizeApiUrl(input: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `https://${input}`
  if (!URL.canParse(withScheme))
    throw new KeyfobError('ERR_INVALID_ARGUMENT', `${JSON.stringify(input)} is not a URL`)
  const url = new URL(withScheme)
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new KeyfobError('ERR_INVALID_ARGUMENT', `${JSON.stringify(input)} is not an http(s) URL`)
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`
}

/**
 * Picks the provider: the one named, else the only one, else the configured default (of the API,
 * then global), else an error that lists the ids to choose from.
 *
 * @param config - The configuration.
 * @param options - `providerId` to name one; `apiUrl` to limit the choice to an API's providers.
 * @returns The provider and its id.
 * @throws KeyfobError `ERR_UNKNOWN_PROVIDER`, `ERR_NO_PROVIDER` or `ERR_AMBIGUOUS_PROVIDER` (the ids in the message and `cause`).
 * @example
 * ```ts
 * const { id, provider } = resolveProvider(config, { providerId: 'egi' })
 * ```
 */
export function resolveProvider(
  config: KeyfobConfig,
  options: { readonly providerId?: string; readonly apiUrl?: string } = {},
): ResolvedProvider {
  const api = options.apiUrl === undefined ? undefined : config.apis[normalizeApiUrl(options.apiUrl)]
  const ids = (api?.providers ?? Object.keys(config.providers)).filter((id) =>
    Object.hasOwn(config.providers, id),
  )
  const pick = (id: string): ResolvedProvider => ({ id, provider: config.providers[id] as ProviderEntry })
  if (options.providerId !== undefined) {
    if (ids.includes(options.providerId)) return pick(options.providerId)
    throw new KeyfobError(
      'ERR_UNKNOWN_PROVIDER',
      `provider ${JSON.stringify(options.providerId)} is not configured${ids.length ? `; choose one of: ${ids.join(', ')}` : '; add one first'}`,
      { cause: { available: ids } },
    )
  }
  if (ids.length === 0)
    throw new KeyfobError(
      'ERR_NO_PROVIDER',
      'no provider is configured; add one (keyfob add-oidc <issuer>)',
      { cause: { available: [] } },
    )
  if (ids.length === 1) return pick(ids[0] as string)
  const fallback = api?.defaultProvider ?? config.defaultProvider
  if (fallback !== undefined && ids.includes(fallback)) return pick(fallback)
  throw new KeyfobError(
    'ERR_AMBIGUOUS_PROVIDER',
    `several providers are configured and none is the default; choose one of: ${ids.join(', ')}`,
    {
      cause: { available: ids },
    },
  )
}

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'

/** Whether a client's advertised grants (openEO's vocabulary) cover a grant. */
function supports(client: ClientEntry, grant: Grant): boolean {
  const grants = client.grantTypes ?? []
  switch (grant) {
    case 'device':
      return grants.includes(DEVICE) || grants.includes(`${DEVICE}+pkce`)
    case 'authorization_code':
      return grants.includes('authorization_code+pkce') || grants.includes('authorization_code')
    case 'refresh_token':
      return grants.includes('refresh_token')
    default:
      return grants.includes(grant)
  }
}

/**
 * Picks the client for a grant: the one given, else the provider's configured client, else the
 * first of the provider's default clients whose grants include this one. Unlike openEO (its
 * issue #530), a device login does not also demand `refresh_token` from a default client.
 *
 * @param provider - The resolved provider.
 * @param grant - The grant about to run.
 * @param explicit - A client named by the caller.
 * @returns The client.
 * @throws KeyfobError `ERR_NO_CLIENT` saying what to pass.
 * @example
 * ```ts
 * const client = resolveClient(provider, 'device')
 * ```
 */
export function resolveClient(provider: ResolvedProvider, grant: Grant, explicit?: ClientEntry): ClientEntry {
  if (explicit) return explicit
  if (provider.provider.client) return provider.provider.client
  const match = provider.provider.defaultClients?.find((c) => supports(c, grant))
  if (match) return match
  throw new KeyfobError(
    'ERR_NO_CLIENT',
    `no client for the ${grant} grant at provider ${provider.id}: pass a client id (--client-id) or configure one${
      provider.provider.defaultClients?.length
        ? ` (its default clients support: ${provider.provider.defaultClients.map((c) => c.grantTypes?.join('|') ?? 'nothing').join('; ')})`
        : ''
    }`,
    { cause: { provider: provider.id, grant } },
  )
}

/** Options of {@link planScope} and {@link scopeFor}. */
export interface ScopeOptions {
  /** The scopes the user or the configuration asked for: always sent. */
  readonly configured?: readonly string[]
  /** The provider's `scopes_supported`, if it advertises any. */
  readonly supported?: readonly string[]
  /** Whether a refresh token is wanted (adds `offline_access` where the provider lists it). */
  readonly refresh?: boolean
  /** Whether to add `openid` (default true; not for client credentials). */
  readonly openid?: boolean
}

/** The scope to send, and what keyfob added or left out on its own, and why. */
export interface ScopePlan {
  /** The `scope` parameter value: sorted, space separated. */
  readonly scope: string
  /** One line per scope keyfob added or left out, or sent although the provider does not list it. */
  readonly notes: readonly string[]
}

/**
 * Decides the scope to ask for. Scopes the user or the configuration asked for are always sent:
 * a provider's `scopes_supported` need not be complete (OpenID Connect Discovery §3, RFC 8414
 * §2), so it is never a whitelist for them. It is consulted only for the scopes keyfob adds on
 * its own: `openid` (left out when the provider lists scopes but not `openid`, i.e. a plain
 * OAuth 2.0 server) and `offline_access` (added when a refresh token is wanted and the provider
 * lists it, or lists nothing).
 *
 * @param options - Configured scopes, the provider's `scopes_supported`, whether a refresh token is wanted, whether `openid` applies.
 * @returns The scope and the notes for a debug log.
 * @example
 * ```ts
 * planScope({ configured: ['kf_api'], supported: ['openid'], refresh: true })
 * // { scope: 'kf_api openid', notes: ['left out offline_access: …', 'sent kf_api although …'] }
 * ```
 */
export function planScope(options: ScopeOptions): ScopePlan {
  const supported = options.supported
  const listed = (scope: string) => supported === undefined || supported.includes(scope)
  const wanted = new Set(options.configured ?? [])
  const notes: string[] = []
  const addOwn = (scope: string, why: string) => {
    if (wanted.has(scope)) return
    if (listed(scope)) {
      wanted.add(scope)
      notes.push(`added ${scope}: ${why}`)
    } else notes.push(`left out ${scope}: the provider's scopes_supported does not list it`)
  }
  if (options.openid !== false) addOwn('openid', 'an OpenID Connect login')
  if (options.refresh) addOwn('offline_access', 'a refresh token is wanted')
  for (const scope of options.configured ?? []) {
    if (!listed(scope))
      notes.push(
        `sent ${scope} although the provider's scopes_supported does not list it (the list need not be complete)`,
      )
  }
  return { scope: [...wanted].sort().join(' '), notes }
}

/**
 * The scope to ask for: {@link planScope}'s `scope`.
 *
 * @param options - Configured scopes, the provider's `scopes_supported`, whether a refresh token is wanted, and whether `openid` applies (not for client credentials).
 * @returns The `scope` parameter value.
 * @example
 * ```ts
 * scopeFor({ configured: ['profile'], supported: ['openid', 'profile', 'offline_access'], refresh: true })
 * // 'offline_access openid profile'
 * ```
 */
export function scopeFor(options: ScopeOptions): string {
  return planScope(options).scope
}
