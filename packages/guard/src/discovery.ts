/** Authorization-server metadata (OIDC Discovery 1.0 §4, RFC 8414 §3), fetched once. @internal @module */
import { DependencyError, GuardError } from './errors.ts'
import type { FetchLike } from './types.ts'

/** The parts of the metadata the guard uses. */
export interface ServerMetadata {
  readonly issuer: string
  readonly jwks_uri?: string
  readonly introspection_endpoint?: string
  readonly [key: string]: unknown
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** Parses a URL the guard will fetch; plain `http:` only for loopback hosts unless allowed. */
export function checkUrl(value: unknown, what: string, owner: string, allowHttp: boolean): URL {
  let url: URL
  try {
    url = new URL(value instanceof URL ? value.href : String(value))
  } catch {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: ${what} is not a valid URL: ${JSON.stringify(String(value))}`,
    )
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new GuardError('ERR_INVALID_OPTION', `${owner}: ${what} must be an https: URL, got ${url.protocol}`)
  }
  if (url.protocol === 'http:' && !allowHttp && !LOOPBACK.has(url.hostname)) {
    throw new GuardError(
      'ERR_INSECURE_URL',
      `${owner}: ${what} ${url.href} is plain http on a non-loopback host, so keys or metadata could be swapped in transit; use https, or set allowHttp: true for a trusted internal network`,
    )
  }
  return url
}

/** Reads a JSON object from a response, refusing oversized or non-JSON bodies. */
export async function readJsonObject(response: Response, limit: number): Promise<Record<string, unknown>> {
  const text = await response.text()
  if (text.length > limit) throw new Error(`response body over ${limit} characters`)
  const value: unknown = JSON.parse(text)
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error('response is not a JSON object')
  return value as Record<string, unknown>
}

/**
 * Fetches and validates metadata once (single flight), caching the result. After a failure, it
 * answers with the same failure for `cooldownMs` instead of refetching on every request.
 */
export function createDiscovery(options: {
  readonly issuer: string
  readonly fetch: FetchLike
  readonly timeoutMs: number
  readonly cooldownMs: number
  readonly allowHttp: boolean
  readonly owner: string
}): () => Promise<ServerMetadata> {
  const { issuer, timeoutMs, cooldownMs, allowHttp, owner } = options
  const base = checkUrl(issuer, 'issuer', owner, allowHttp)
  const trimmed = base.href.replace(/\/$/, '')
  // OIDC Discovery appends; RFC 8414 inserts the well-known segment before the issuer's path.
  const candidates = [
    `${trimmed}/.well-known/openid-configuration`,
    `${base.origin}/.well-known/oauth-authorization-server${base.pathname === '/' ? '' : base.pathname.replace(/\/$/, '')}`,
  ]
  let metadata: ServerMetadata | undefined
  let pending: Promise<ServerMetadata> | undefined
  let failure: { at: number; error: DependencyError } | undefined

  async function load(): Promise<ServerMetadata> {
    let lastError: unknown
    for (const candidate of candidates) {
      let response: Response
      try {
        response = await options.fetch(candidate, {
          headers: { accept: 'application/json' },
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        })
      } catch (error) {
        throw new DependencyError('discovery', `discovery ${candidate} failed: ${describe(error)}`, {
          cause: error,
        })
      }
      if (response.status === 404) {
        await response.body?.cancel().catch(() => {})
        lastError = new Error(`${candidate} answered 404`)
        continue
      }
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => {})
        throw new DependencyError('discovery', `discovery ${candidate} answered ${response.status}`)
      }
      let doc: Record<string, unknown>
      try {
        doc = await readJsonObject(response, 512 * 1024)
      } catch (error) {
        throw new DependencyError('discovery', `discovery ${candidate}: ${describe(error)}`, { cause: error })
      }
      if (doc.issuer !== issuer) {
        throw new DependencyError(
          'discovery',
          `discovery ${candidate} names issuer ${JSON.stringify(doc.issuer)}, not the configured ${JSON.stringify(issuer)} (OIDC Discovery §4.3 requires them to be equal)`,
        )
      }
      for (const field of ['jwks_uri', 'introspection_endpoint'] as const) {
        if (doc[field] === undefined) continue
        try {
          checkUrl(doc[field], field, owner, allowHttp)
        } catch (error) {
          throw new DependencyError('discovery', `discovery ${candidate}: ${describe(error)}`, {
            cause: error,
          })
        }
      }
      return doc as ServerMetadata
    }
    throw new DependencyError('discovery', `no discovery document for ${issuer}: ${describe(lastError)}`)
  }

  return async function discover(): Promise<ServerMetadata> {
    if (metadata) return metadata
    if (failure && Date.now() - failure.at < cooldownMs) throw failure.error
    pending ??= load()
      .then((doc) => {
        metadata = doc
        failure = undefined
        return doc
      })
      .catch((error: DependencyError) => {
        failure = { at: Date.now(), error }
        throw error
      })
      .finally(() => {
        pending = undefined
      })
    return pending
  }
}

/** A short, secret-free description of an error for diagnostics. @internal */
export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return String(error)
}
