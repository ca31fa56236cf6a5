/**
 * Provider sources: APIs that advertise the identity providers they accept, so a client can be
 * composed from parts (source → configuration → provider and client resolution → session).
 * openEO's `GET /credentials/oidc` is the worked example.
 *
 * @module
 */
import {
  type ClientEntry,
  type FetchLike,
  type KeyfobConfig,
  KeyfobError,
  normalizeApiUrl,
  type ProviderEntry,
} from '@keyfob/core'

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
 * without `grant_types`; here it is a client usable for nothing).
 *
 * @param document - The parsed JSON body.
 * @param where - The URL it came from, for messages.
 * @param onWarning - Receives each skipped item.
 * @returns The providers, in the document's order.
 * @throws KeyfobError `ERR_INVALID_RESPONSE` naming the first missing or mistyped field; `ERR_NO_PROVIDER` when the list is empty.
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
    if (seen.has(id)) throw invalid(`${at}.id ${JSON.stringify(id)} appears twice`)
    seen.add(id)
    if (!URL.canParse(raw.issuer as string)) throw invalid(`${at}.issuer is not an absolute URL`)
    if (raw.scopes !== undefined && !stringList(raw.scopes))
      throw invalid(`${at}.scopes must be an array of strings`)
    const params = raw.authorization_parameters
    if (
      params !== undefined &&
      !(isRecord(params) && Object.values(params).every((v) => typeof v === 'string'))
    )
      throw invalid(`${at}.authorization_parameters must be an object of strings`)
    const clients: ClientEntry[] = []
    if (raw.default_clients !== undefined) {
      if (!Array.isArray(raw.default_clients)) throw invalid(`${at}.default_clients must be an array`)
      raw.default_clients.forEach((client, j) => {
        const cat = `${at}.default_clients[${j}]`
        if (!isRecord(client) || typeof client.id !== 'string' || client.id === '') {
          onWarning(`${where}: ${cat} has no id; skipped`)
          return
        }
        const grants = stringList(client.grant_types) ? client.grant_types : []
        if (!stringList(client.grant_types))
          onWarning(`${where}: ${cat} lists no grant_types; it is usable for nothing`)
        for (const grant of grants)
          if (!OPENEO_GRANTS.has(grant))
            onWarning(`${where}: ${cat} has unknown grant type ${JSON.stringify(grant)}; ignored`)
        clients.push({ clientId: client.id, grantTypes: grants.filter((g) => OPENEO_GRANTS.has(g)) })
      })
    }
    return {
      id,
      issuer: raw.issuer as string,
      title: raw.title as string,
      ...(raw.scopes !== undefined ? { scopes: raw.scopes as string[] } : {}),
      ...(clients.length ? { defaultClients: clients } : {}),
      ...(params !== undefined ? { authorizationParameters: params as Record<string, string> } : {}),
    }
  })
}

/**
 * The providers an openEO API advertises at `GET <api>/credentials/oidc`.
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
  const url = `${base}/credentials/oidc`
  return {
    apiUrl: base,
    async providers({ signal } = {}) {
      const timeout = AbortSignal.timeout(options.timeoutMs ?? 20_000)
      let response: Response
      try {
        response = await (options.fetch ?? fetch)(url, {
          headers: { accept: 'application/json' },
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        })
      } catch (error) {
        if (signal?.aborted) throw new KeyfobError('ERR_ABORTED', `GET ${url} was cancelled`)
        const timedOut = (error as { name?: string } | undefined)?.name === 'TimeoutError'
        throw new KeyfobError(
          timedOut ? 'ERR_TIMEOUT' : 'ERR_NETWORK',
          `GET ${url} ${timedOut ? 'timed out' : 'failed'}; check the API address and your network`,
          { cause: { url } },
        )
      }
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

/**
 * Merges an API's advertised providers into a configuration: each provider is added or updated
 * (its issuer, title, scopes, default clients and parameters from the API; a client configured
 * locally is kept), and the API's entry lists them in the API's order. The input is not changed.
 *
 * @param config - The current configuration.
 * @param apiUrl - The API's base URL.
 * @param providers - What the API advertises.
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
): KeyfobConfig {
  const key = normalizeApiUrl(apiUrl)
  const merged: Record<string, ProviderEntry> = { ...config.providers }
  for (const { id, ...advertised } of providers) {
    const existing = merged[id]
    if (existing && existing.issuer !== advertised.issuer)
      throw new KeyfobError(
        'ERR_INVALID_CONFIG',
        `provider ${JSON.stringify(id)} is configured for ${existing.issuer} but ${key} advertises ${advertised.issuer}; rename or remove the configured one`,
        { cause: { provider: id, configured: existing.issuer, advertised: advertised.issuer } },
      )
    merged[id] = { ...advertised, ...(existing?.client ? { client: existing.client } : {}) }
  }
  const api = config.apis[key] ?? {}
  return {
    ...config,
    providers: merged,
    apis: { ...config.apis, [key]: { ...api, providers: providers.map((p) => p.id) } },
  }
}

/**
 * openEO's bearer format for OIDC: `Bearer oidc/<provider id>/<access token>`.
 *
 * @param providerId - The API's id of the provider the token came from.
 * @returns The `authorization` option of a {@link Session}.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for an empty id or one containing `/`.
 * @see https://api.openeo.org/#section/Authentication/OpenID-Connect
 * @example
 * ```ts
 * new Session({ ...options, authorization: openEoAuthorization('egi') })
 * ```
 */
export function openEoAuthorization(providerId: string): (accessToken: string) => string {
  if (providerId === '' || providerId.includes('/'))
    throw new KeyfobError(
      'ERR_INVALID_ARGUMENT',
      `openEO provider id ${JSON.stringify(providerId)} must be non-empty without "/"`,
    )
  return (accessToken) => `Bearer oidc/${providerId}/${accessToken}`
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
