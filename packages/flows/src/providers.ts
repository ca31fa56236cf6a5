/**
 * Provider sources: APIs that advertise the identity providers they accept, so a client can be
 * composed from parts (source → configuration → provider and client resolution → session).
 * openEO's `GET /credentials/oidc` is the worked example.
 *
 * @module
 */
import {
  authorizationParametersProblem,
  type ClientEntry,
  type FetchLike,
  isProviderId,
  type KeyfobConfig,
  KeyfobError,
  normalizeApiUrl,
  type ProviderEntry,
} from '@keyfob/core'
import { basicAuthorization } from './drivers.ts'

/** A provider as an API advertises it: a {@link ProviderEntry} with the API's id for it. */
export interface AdvertisedProvider extends ProviderEntry {
  /** The API's id for the provider (openEO puts it in the bearer: `oidc/<id>/<token>`). */
  readonly id: string
}

/** Where an API's providers come from. */
export interface ProviderSource {
  /** The API's base URL, normalized; the configuration keeps its providers under it. */
  readonly apiUrl: string
  /**
   * The API's providers, in the API's order (the first is its default).
   *
   * @param options - `signal` to cancel.
   */
  providers(options?: { readonly signal?: AbortSignal }): Promise<readonly AdvertisedProvider[]>
}

/** Options of {@link openEoProviderSource}. */
export interface OpenEoSourceOptions {
  /** The `fetch` to use; default the global one. */
  readonly fetch?: FetchLike
  /** Request timeout; default 20 000 ms (openEO's own). */
  readonly timeoutMs?: number
  /** Called for each advertised thing that is skipped (an unknown grant type, a bad client). */
  readonly onWarning?: (message: string) => void
  /**
   * Follow openEO's version discovery (`GET <url>/.well-known/openeo`, see {@link discoverOpenEoApi})
   * before asking for the providers; default `true`. Pass `false` when `apiUrl` is already the
   * versioned API root.
   */
  readonly versionDiscovery?: boolean
}

/** C0 and C1 control characters and DEL: what a terminal may take as a command. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/**
 * `text` without control characters (C0, DEL, C1), for printing what a server sent: an API could
 * otherwise write terminal escapes (an OSC 52 clipboard write, an erased line) through a provider
 * title.
 *
 * @param text - Untrusted text.
 * @returns The text with every control character removed.
 * @example
 * ```ts
 * printable('EGI\u001b]52;c;ZXZpbA==\u0007') // 'EGI]52;c;ZXZpbA=='
 * ```
 */
export function printable(text: string): string {
  return text.replace(CONTROL, '')
}

/** An untrusted value, quoted with every control character escaped, for messages. */
function quoted(value: unknown): string {
  return JSON.stringify(value).replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** The grant types openEO's API defines for `default_clients`. */
const OPENEO_GRANTS: ReadonlySet<string> = new Set([
  'implicit',
  'authorization_code',
  'authorization_code+pkce',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:device_code+pkce',
  'refresh_token',
  // Not in the openEO spec, but how a client-credentials client would say so.
  'client_credentials',
])

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const stringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string')

/**
 * Parses an openEO `GET /credentials/oidc` document. Providers need `id`, `issuer` and `title`;
 * `scopes`, `default_clients` and `authorization_parameters` are optional. Unknown grant types and
 * malformed default clients are skipped with a warning (openEO's client crashes on a client
 * without `grant_types`; here it is a client usable for nothing). What a hostile API could abuse is
 * refused: an id outside the configuration's rule (`isProviderId` of `@keyfob/core`), an issuer
 * that is not an http(s) URL, `authorization_parameters` naming a parameter the client sets itself
 * (`RESERVED_AUTHORIZATION_PARAMETERS`); titles lose their control characters ({@link printable}).
 *
 * @param document - The parsed JSON body.
 * @param where - The URL it came from, for messages.
 * @param onWarning - Receives each skipped item.
 * @returns The providers, in the document's order.
 * @throws KeyfobError `ERR_INVALID_RESPONSE` naming the first missing, mistyped or refused field (the value quoted with control characters escaped); `ERR_NO_PROVIDER` when the list is empty.
 * @see https://api.openeo.org/#tag/Account-Management/operation/authenticate-oidc
 * @example
 * ```ts
 * const providers = parseOpenEoProviders(await response.json(), url)
 * ```
 */
export function parseOpenEoProviders(
  document: unknown,
  where: string,
  onWarning: (message: string) => void = () => {},
): AdvertisedProvider[] {
  const invalid = (detail: string) =>
    new KeyfobError('ERR_INVALID_RESPONSE', `${where}: ${detail}`, { cause: { url: where } })
  if (!isRecord(document) || !Array.isArray(document.providers))
    throw invalid('expected a JSON object with a "providers" array')
  if (document.providers.length === 0)
    throw new KeyfobError('ERR_NO_PROVIDER', `${where} lists no OpenID Connect providers`, {
      cause: { url: where, available: [] },
    })
  const seen = new Set<string>()
  return document.providers.map((raw, index): AdvertisedProvider => {
    const at = `providers[${index}]`
    if (!isRecord(raw)) throw invalid(`${at} is not an object`)
    for (const field of ['id', 'issuer', 'title'] as const) {
      if (typeof raw[field] !== 'string' || raw[field] === '')
        throw invalid(`${at}.${field} must be a non-empty string`)
    }
    const id = raw.id as string
    if (!isProviderId(id))
      throw invalid(
        `${at}.id ${quoted(id)} is not a valid provider id (a letter or digit, then up to 63 letters, digits, ".", "_" or "-"); this API cannot be used`,
      )
    if (seen.has(id)) throw invalid(`${at}.id ${JSON.stringify(id)} appears twice`)
    seen.add(id)
    const issuer = raw.issuer as string
    if (HAS_CONTROL.test(issuer) || !URL.canParse(issuer) || !/^https?:$/.test(new URL(issuer).protocol))
      throw invalid(`${at}.issuer ${quoted(issuer)} is not an absolute URL (http or https)`)
    if (raw.scopes !== undefined && !stringList(raw.scopes))
      throw invalid(`${at}.scopes must be an array of strings`)
    const params = raw.authorization_parameters
    const problem = params === undefined ? undefined : authorizationParametersProblem(params)
    if (problem) throw invalid(`${at}.authorization_parameters ${printable(problem)}`)
    const clients: ClientEntry[] = []
    if (raw.default_clients !== undefined) {
      if (!Array.isArray(raw.default_clients)) throw invalid(`${at}.default_clients must be an array`)
      raw.default_clients.forEach((client, j) => {
        const cat = `${at}.default_clients[${j}]`
        if (!isRecord(client) || typeof client.id !== 'string' || client.id === '') {
          onWarning(`${where}: ${cat} has no id; skipped`)
          return
        }
        if (HAS_CONTROL.test(client.id)) {
          onWarning(`${where}: ${cat}.id ${quoted(client.id)} contains control characters; skipped`)
          return
        }
        const grants = stringList(client.grant_types) ? client.grant_types : []
        if (!stringList(client.grant_types))
          onWarning(`${where}: ${cat} lists no grant_types; it is usable for nothing`)
        for (const grant of grants)
          if (!OPENEO_GRANTS.has(grant))
            onWarning(`${where}: ${cat} has unknown grant type ${quoted(grant)}; ignored`)
        clients.push({ clientId: client.id, grantTypes: grants.filter((g) => OPENEO_GRANTS.has(g)) })
      })
    }
    return {
      id,
      issuer,
      title: printable(raw.title as string),
      ...(raw.scopes !== undefined ? { scopes: raw.scopes as string[] } : {}),
      ...(clients.length ? { defaultClients: clients } : {}),
      ...(params !== undefined ? { authorizationParameters: params as Record<string, string> } : {}),
    }
  })
}

/**
 * One GET with openEO's timeout, body included, mapping transport failures to typed errors. The
 * answer is read here (openEO's documents are small) so that the timer bounds the whole request
 * and is cleared when it ends: a plain `setTimeout`, not `AbortSignal.any` with
 * `AbortSignal.timeout`, whose timeout Node 20 can lose after a garbage collection
 * (nodejs/node#57736).
 */
async function get(
  url: string,
  options: { readonly fetch?: FetchLike; readonly timeoutMs?: number; readonly signal?: AbortSignal },
  headers: Record<string, string> = {},
): Promise<Response> {
  const timeoutMs = options.timeoutMs ?? 20_000
  const controller = new AbortController()
  const onAbort = () => controller.abort(options.signal?.reason)
  if (options.signal?.aborted) onAbort()
  else options.signal?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(
    () => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')),
    timeoutMs,
  )
  try {
    const response = await (options.fetch ?? fetch)(url, {
      headers: { accept: 'application/json', ...headers },
      signal: controller.signal,
    })
    const body = await response.arrayBuffer()
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  } catch (error) {
    if (options.signal?.aborted) throw new KeyfobError('ERR_ABORTED', `GET ${url} was cancelled`)
    const timedOut =
      controller.signal.aborted || (error as { name?: string } | undefined)?.name === 'TimeoutError'
    throw new KeyfobError(
      timedOut ? 'ERR_TIMEOUT' : 'ERR_NETWORK',
      `GET ${url} ${timedOut ? `timed out (no answer within ${timeoutMs} ms)` : 'failed'}; check the API address and your network`,
      { cause: { url } },
    )
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/** openEO's version order (its `ComparableVersion`): numbers numerically, words alphabetically. */
function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/(\d+|[a-zA-Z]+|\.)/).filter((x) => x && x !== '.')
  const x = parts(a)
  const y = parts(b)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i]
    const q = y[i]
    if (p === undefined || q === undefined) return p === undefined ? -1 : 1
    const numeric = /^\d+$/.test(p) && /^\d+$/.test(q)
    const order = numeric ? Number(p) - Number(q) : p < q ? -1 : p > q ? 1 : 0
    if (order !== 0) return order
  }
  return 0
}

/** Options of {@link discoverOpenEoApi}. */
export interface OpenEoDiscoveryOptions {
  /** The `fetch` to use; default the global one. */
  readonly fetch?: FetchLike
  /** Request timeout; default 20 000 ms. */
  readonly timeoutMs?: number
  /** Cancels the request. */
  readonly signal?: AbortSignal
}

/**
 * openEO's version discovery, as its Python client does it (`Connection.version_discovery`):
 * `GET <url>/.well-known/openeo`, keep the versions with `api_version` ≥ 1.0.0, prefer those not
 * marked `production: false`, and take the highest. Like openEO it is lenient: when the document
 * is missing or unusable, `url` itself is the API root.
 *
 * @param url - What the user gave (`https://` is assumed when no scheme is given).
 * @param options - fetch, timeout, signal.
 * @returns The API root to use, normalized (e.g. `https://openeo.example/openeo/1.2`).
 * @throws KeyfobError `ERR_ABORTED` when cancelled; `ERR_INVALID_ARGUMENT` for a `url` that is not an http(s) URL.
 * @see https://api.openeo.org/#tag/Capabilities/operation/connect
 * @example
 * ```ts
 * const root = await discoverOpenEoApi('https://openeo.example')
 * const providers = await openEoProviderSource(root, { versionDiscovery: false }).providers()
 * ```
 */
export async function discoverOpenEoApi(url: string, options: OpenEoDiscoveryOptions = {}): Promise<string> {
  const base = normalizeApiUrl(url)
  let document: unknown
  try {
    const response = await get(`${base}/.well-known/openeo`, options)
    if (!response.ok) {
      await response.body?.cancel()
      return base
    }
    document = await response.json()
  } catch (error) {
    if ((error as KeyfobError).code === 'ERR_ABORTED') throw error
    return base
  }
  const versions = (isRecord(document) && Array.isArray(document.versions) ? document.versions : []).filter(
    (v): v is { url: string; api_version: string; production?: unknown } =>
      isRecord(v) &&
      typeof v.url === 'string' &&
      typeof v.api_version === 'string' &&
      compareVersions(v.api_version, '1.0.0') >= 0 &&
      URL.canParse(v.url) &&
      /^https?:$/.test(new URL(v.url).protocol),
  )
  const production = versions.filter((v) => v.production !== false)
  const best = (production.length ? production : versions).reduce<(typeof versions)[number] | undefined>(
    (top, v) => (top === undefined || compareVersions(v.api_version, top.api_version) > 0 ? v : top),
    undefined,
  )
  return best ? normalizeApiUrl(best.url) : base
}

/**
 * The providers an openEO API advertises at `GET <api root>/credentials/oidc`, the root found by
 * openEO's version discovery ({@link discoverOpenEoApi}) unless `versionDiscovery: false`. The
 * source's `apiUrl` stays the URL given (normalized), as openEO keys its configuration by it.
 *
 * @param apiUrl - The API's base URL (`https://` is assumed when no scheme is given).
 * @param options - fetch, timeout, warnings.
 * @returns A {@link ProviderSource}.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for a URL that cannot be one.
 * @example
 * ```ts
 * const source = openEoProviderSource('https://openeo.example/openeo/1.2')
 * const config = withAdvertisedProviders(await configStore.read(), source.apiUrl, await source.providers())
 * ```
 */
export function openEoProviderSource(apiUrl: string, options: OpenEoSourceOptions = {}): ProviderSource {
  const base = normalizeApiUrl(apiUrl)
  return {
    apiUrl: base,
    async providers({ signal } = {}) {
      const http = { ...options, ...(signal ? { signal } : {}) }
      const root = options.versionDiscovery === false ? base : await discoverOpenEoApi(base, http)
      const url = `${root}/credentials/oidc`
      const response = await get(url, http)
      if (!response.ok) {
        await response.body?.cancel()
        throw new KeyfobError('ERR_INVALID_RESPONSE', `GET ${url} answered ${response.status}`, {
          cause: { url, status: response.status },
        })
      }
      let body: unknown
      try {
        body = await response.json()
      } catch {
        throw new KeyfobError('ERR_INVALID_RESPONSE', `GET ${url} did not answer JSON`, {
          cause: { url, status: response.status, contentType: response.headers.get('content-type') },
        })
      }
      return parseOpenEoProviders(body, url, options.onWarning)
    },
  }
}

/** Options of {@link withAdvertisedProviders}. */
export interface AdvertisedMergeOptions {
  /** Receives one line per configured setting kept although the API advertises another value. */
  readonly onWarning?: (message: string) => void
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * Merges an API's advertised providers into a configuration: a new provider is added as advertised;
 * a configured one keeps what was configured (its client, scopes and authorization parameters are
 * never silently rewritten: each difference goes to `onWarning`) and takes only the API's title and
 * default clients, and what it did not have. The API's entry lists the providers in the API's
 * order. The input is not changed.
 *
 * @param config - The current configuration.
 * @param apiUrl - The API's base URL.
 * @param providers - What the API advertises.
 * @param options - `onWarning` for configured settings kept against the API's advice.
 * @returns The new configuration.
 * @throws KeyfobError `ERR_INVALID_CONFIG` when a provider id is already configured with another issuer.
 * @example
 * ```ts
 * await configStore.update((c) => withAdvertisedProviders(c, source.apiUrl, advertised))
 * ```
 */
export function withAdvertisedProviders(
  config: KeyfobConfig,
  apiUrl: string,
  providers: readonly AdvertisedProvider[],
  options: AdvertisedMergeOptions = {},
): KeyfobConfig {
  const key = normalizeApiUrl(apiUrl)
  const merged: Record<string, ProviderEntry> = { ...config.providers }
  for (const { id, ...advertised } of providers) {
    const existing = merged[id]
    if (!existing) {
      merged[id] = advertised
      continue
    }
    if (existing.issuer !== advertised.issuer)
      throw new KeyfobError(
        'ERR_INVALID_CONFIG',
        `provider ${JSON.stringify(id)} is configured for ${existing.issuer} but ${key} advertises ${advertised.issuer}; rename or remove the configured one`,
        { cause: { provider: id, configured: existing.issuer, advertised: advertised.issuer } },
      )
    for (const field of ['scopes', 'authorizationParameters'] as const)
      if (existing[field] !== undefined && !sameJson(existing[field], advertised[field]))
        options.onWarning?.(
          `provider ${id}: keeping the configured ${field} ${JSON.stringify(existing[field])}; ${key} advertises ${advertised[field] === undefined ? 'none' : JSON.stringify(advertised[field])}`,
        )
    merged[id] = {
      ...advertised,
      ...existing,
      ...(advertised.title !== undefined ? { title: advertised.title } : {}),
      ...(advertised.defaultClients !== undefined ? { defaultClients: advertised.defaultClients } : {}),
    }
  }
  const api = config.apis[key] ?? {}
  return {
    ...config,
    providers: merged,
    apis: { ...config.apis, [key]: { ...api, providers: providers.map((p) => p.id) } },
  }
}

/**
 * openEO's bearer token for OIDC, `oidc/<provider id>/<access token>`, the value after `Bearer ` in
 * the `Authorization` header (what `keyfob token --openeo` prints).
 *
 * @param providerId - The API's id of the provider the token came from.
 * @param accessToken - The access token.
 * @returns The bearer token.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for an id outside the provider id rule (`isProviderId` of `@keyfob/core`), e.g. one with `/`.
 * @see https://api.openeo.org/#section/Authentication/OpenID-Connect
 * @example
 * ```ts
 * openEoBearer('egi', 'eyJ…') // 'oidc/egi/eyJ…'
 * ```
 */
export function openEoBearer(providerId: string, accessToken: string): string {
  return openEoAuthorization(providerId)(accessToken).slice('Bearer '.length)
}

/**
 * openEO's bearer format for OIDC: `Bearer oidc/<provider id>/<access token>`.
 *
 * @param providerId - The API's id of the provider the token came from.
 * @returns The `authorization` option of a {@link Session}.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for an id outside the provider id rule (`isProviderId` of `@keyfob/core`), e.g. one with `/`.
 * @see https://api.openeo.org/#section/Authentication/OpenID-Connect
 * @example
 * ```ts
 * new Session({ ...options, authorization: openEoAuthorization('egi') })
 * ```
 */
export function openEoAuthorization(providerId: string): (accessToken: string) => string {
  if (!isProviderId(providerId))
    throw new KeyfobError(
      'ERR_INVALID_ARGUMENT',
      `openEO provider id ${quoted(providerId)} must be a letter or digit, then up to 63 letters, digits, ".", "_" or "-"`,
    )
  return (accessToken) => `Bearer oidc/${providerId}/${accessToken}`
}

/** Options of {@link openEoBasicLogin}. */
export interface OpenEoBasicOptions extends OpenEoDiscoveryOptions {
  /** The user name. */
  readonly username: string
  /** The password (sent only to the API, over the connection `apiUrl` names). */
  readonly password: string
  /** Follow openEO's version discovery first; default `true`. */
  readonly versionDiscovery?: boolean
}

/**
 * openEO's Basic login: `GET <api root>/credentials/basic` with HTTP Basic credentials, answered
 * with an `access_token` that is then sent as `Authorization: Bearer basic//<token>`.
 *
 * @param apiUrl - The API (version discovery as {@link discoverOpenEoApi} unless turned off).
 * @param options - Credentials, fetch, timeout, signal.
 * @returns The API root used and the bearer token `basic//<access token>`.
 * @throws KeyfobError `ERR_ACCESS_DENIED` when the API rejects the credentials (401/403); `ERR_UNSUPPORTED` when it has no Basic login (404); `ERR_INVALID_RESPONSE` for another answer; `ERR_NETWORK`/`ERR_TIMEOUT`/`ERR_ABORTED`.
 * @see https://api.openeo.org/#tag/Account-Management/operation/authenticate-basic
 * @example
 * ```ts
 * const { bearer } = await openEoBasicLogin('https://openeo.example', { username: 'alice', password: 'secret' })
 * await fetch('https://openeo.example/openeo/1.2/me', { headers: { authorization: `Bearer ${bearer}` } })
 * ```
 */
export async function openEoBasicLogin(
  apiUrl: string,
  options: OpenEoBasicOptions,
): Promise<{ readonly apiRoot: string; readonly bearer: string }> {
  const root =
    options.versionDiscovery === false ? normalizeApiUrl(apiUrl) : await discoverOpenEoApi(apiUrl, options)
  const url = `${root}/credentials/basic`
  const response = await get(url, options, {
    authorization: basicAuthorization(options.username, options.password),
  })
  const evidence = { url, status: response.status }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel()
    throw new KeyfobError(
      'ERR_ACCESS_DENIED',
      `${root} rejected the Basic credentials of ${JSON.stringify(options.username)} (HTTP ${response.status}); check the user name and password`,
      { cause: evidence },
    )
  }
  if (response.status === 404) {
    await response.body?.cancel()
    throw new KeyfobError('ERR_UNSUPPORTED', `${root} offers no Basic login (GET ${url} answered 404)`, {
      cause: evidence,
    })
  }
  let body: unknown
  try {
    body = response.ok ? await response.json() : undefined
  } catch {
    body = undefined
  }
  if (!isRecord(body) || typeof body.access_token !== 'string' || body.access_token === '')
    throw new KeyfobError(
      'ERR_INVALID_RESPONSE',
      `GET ${url} answered ${response.status} without an access_token`,
      { cause: evidence },
    )
  return { apiRoot: root, bearer: `basic//${body.access_token}` }
}

/**
 * openEO's signal that a token was rejected: a `401` or `403` whose JSON error has code
 * `TokenInvalid` (openEO's client retries only then; other codes are real denials).
 *
 * @param response - A clone of the API's response (its body is read).
 * @returns Whether to renew the token and retry once.
 * @example
 * ```ts
 * new Session({ ...options, tokenRejected: openEoTokenRejected })
 * ```
 */
export async function openEoTokenRejected(response: Response): Promise<boolean> {
  if (response.status !== 401 && response.status !== 403) return false
  try {
    const body: unknown = await response.json()
    return isRecord(body) && body.code === 'TokenInvalid'
  } catch {
    return false
  }
}
