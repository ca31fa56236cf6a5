/** Forwarding a request upstream: the headers it carries, and a streaming `fetch` forwarder. @module */
import type { Context } from 'hono'

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy `keep-alive`, `proxy-connection` and
 * `upgrade`): meaningful for one connection only, never forwarded. Headers named in `Connection`
 * are dropped as well.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** The header names a `Connection` value lists (lower case), or `undefined` for none. */
function connectionListed(value: string | readonly string[] | undefined): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined
  // What nearly every client sends names no other header: no set to build and search.
  if (typeof value === 'string' && /^(?:keep-alive|close)$/i.test(value)) return undefined
  const names = new Set<string>()
  for (const name of (typeof value === 'string' ? value : value.join(',')).split(',')) {
    const trimmed = name.trim().toLowerCase()
    if (trimmed !== '') names.add(trimmed)
  }
  return names
}

/**
 * Deletes hop-by-hop headers (see {@link HOP_BY_HOP}), including those the `Connection` header
 * names, in place.
 *
 * @param headers - Request or response headers.
 * @returns The same object.
 * @example
 * ```ts
 * import { dropHopByHop } from '@keyfob/gateway'
 *
 * const h = dropHopByHop(new Headers({ connection: 'x-private', 'x-private': '1', accept: '*\/*' }))
 * console.log([...h.keys()]) // ['accept']
 * ```
 */
export function dropHopByHop(headers: Headers): Headers {
  const listed = connectionListed(headers.get('connection') ?? undefined)
  if (listed) for (const name of listed) headers.delete(name)
  for (const name of HOP_BY_HOP) headers.delete(name)
  return headers
}

/**
 * Copies end-to-end headers into a plain object: every header of `source` except the hop-by-hop
 * ones, those its `Connection` header lists, and those in `drop`; repeated values joined with
 * `, ` (`set-cookie` kept as a list). One pass, no `Headers` object: the gateway runs it on every
 * request, in both directions.
 *
 * @param source - Headers by lower-case name, as `node:http` parses them (`IncomingMessage.headers`)
 *   or as {@link headersOf} reads a `Headers`.
 * @param drop - Further lower-case names to leave out (credentials, identity headers, `host`).
 * @returns A new object, lower-case names.
 * @example
 * ```ts
 * import { endToEnd } from '@keyfob/gateway'
 *
 * const out = endToEnd({ connection: 'x-private', 'x-private': '1', accept: '*\/*', host: 'a' }, new Set(['host']))
 * console.log(out) // { accept: '*\/*' }
 * ```
 */
export function endToEnd(
  source: Readonly<Record<string, string | readonly string[] | undefined>>,
  drop?: ReadonlySet<string>,
): Record<string, string | string[]> {
  const listed = connectionListed(source.connection)
  const out: Record<string, string | string[]> = {}
  for (const name in source) {
    const value = source[name]
    if (value === undefined || HOP_BY_HOP.has(name) || drop?.has(name) || listed?.has(name)) continue
    out[name] = typeof value === 'string' ? value : name === 'set-cookie' ? [...value] : value.join(', ')
  }
  return out
}

/**
 * The end-to-end headers of `node:http`'s raw list (`[name, value, name, value, …]`, as received:
 * case, order and repeats kept) as a list of the same shape for `writeHead`: hop-by-hop headers
 * and those `Connection` lists left out, and `prepared` set over them (`set-cookie` added to the
 * upstream's). One pass over the strings, without the header object Node would build. @internal
 */
export function endToEndRaw(raw: readonly string[], prepared?: Headers): string[] {
  let listed: ReadonlySet<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const more = connectionListed(raw[i + 1] as string)
      if (more) listed = listed ? new Set([...listed, ...more]) : more
    }
  }
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue
    if (prepared !== undefined && lower !== 'set-cookie' && prepared.has(lower)) continue
    out.push(name, raw[i + 1] as string)
  }
  // Iteration yields each prepared `set-cookie` on its own.
  prepared?.forEach((value, name) => {
    out.push(name, value)
  })
  return out
}

/**
 * Reads a Fetch API `Headers` into a plain object by lower-case name (`set-cookie` as a list),
 * the shape {@link endToEnd} takes.
 *
 * @param headers - The headers.
 * @returns A new object.
 * @example
 * ```ts
 * import { headersOf } from '@keyfob/gateway'
 *
 * console.log(headersOf(new Headers({ Accept: 'text/html' }))) // { accept: 'text/html' }
 * ```
 */
export function headersOf(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  headers.forEach((value, name) => {
    out[name] = value
  })
  const cookies = headers.getSetCookie?.()
  if (cookies !== undefined && cookies.length > 0) out['set-cookie'] = cookies
  return out
}

/**
 * Why the upstream gave no response: it did not send headers in time (`timeout`, a 504) or it
 * could not be reached or broke the connection (`unreachable`, a 502). A {@link Forwarder}
 * throws it; the gateway turns it into the JSON error.
 *
 * @example
 * ```ts
 * import { UpstreamError } from '@keyfob/gateway'
 *
 * const error = new UpstreamError('timeout', 'no response headers within 30000 ms')
 * console.log(error.kind === 'timeout' ? 504 : 502)
 * ```
 */
export class UpstreamError extends Error {
  /** What went wrong. */
  readonly kind: 'timeout' | 'unreachable'

  /**
   * @param kind - `timeout` or `unreachable`.
   * @param message - A description for the log (no header values).
   * @param options - `cause`: the network error.
   */
  constructor(kind: 'timeout' | 'unreachable', message: string, options?: { readonly cause?: unknown }) {
    super(message, options)
    this.kind = kind
    this.name = this.constructor.name
  }
}

/** A request on its way upstream, as the gateway prepared it. */
export interface UpstreamRequest {
  /** The upstream's base URL, parsed once at start-up: the request goes to its origin. */
  readonly upstream: URL
  /** The path and query to ask the upstream for (the mount stripped, the upstream's base path put in front), starting with `/`. */
  readonly path: string
  /** The method. */
  readonly method: string
  /** The headers to send, lower-case names: the client's end-to-end headers without credential and identity headers, plus the identity and `X-Forwarded-*` headers. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>
  /** How long to wait for the upstream's response headers. */
  readonly timeoutMs: number
  /**
   * Headers the gateway's middlewares prepared for the client's response (a renewed `DPoP-Nonce`),
   * set over the upstream's. Given only when a middleware may prepare some; a forwarder that
   * returns a `Response` may ignore it (Hono adds them), one that writes the response itself
   * ({@link nodeForwarder}) must write them.
   */
  readonly responseHeaders?: Headers | undefined
}

/**
 * Sends a prepared request upstream and returns the upstream's response, streaming both bodies.
 * Throws {@link UpstreamError} when no response arrives.
 */
export type Forwarder = (c: Context, request: UpstreamRequest) => Promise<Response>

/** The timeout message, one wording for every forwarder. */
export function timeoutError(timeoutMs: number, cause?: unknown): UpstreamError {
  return new UpstreamError('timeout', `no response headers within ${timeoutMs} ms`, { cause })
}

/** The unreachable message, one wording for every forwarder: the network error's code, never a header. */
export function unreachableError(error: unknown): UpstreamError {
  return new UpstreamError('unreachable', `the upstream could not be reached: ${describe(error)}`, {
    cause: error,
  })
}

/**
 * A {@link Forwarder} over `fetch` (Deno, Bun, any runtime): the request body is passed as a
 * stream (`duplex: 'half'`), the response body is returned unread, so both directions stream with
 * backpressure. Asks the upstream for `accept-encoding: identity`, because `fetch`
 * implementations decode compressed bodies without saying so. The timeout covers the wait for
 * response headers only; a long download is not cut off. The timeout is a timer the forwarder
 * holds and the client's abort reaches the upstream through a listener (no `AbortSignal.any`,
 * whose timeouts Node 20 lost after a garbage collection).
 *
 * @param fetchImpl - The `fetch` to use; default `globalThis.fetch`.
 * @returns The forwarder.
 * @example
 * ```ts
 * import { createGateway, fetchForwarder, loadConfig } from '@keyfob/gateway'
 *
 * const loaded = loadConfig({ argv: ['--upstream', 'http://127.0.0.1:5000', '--allow-unauthenticated'], env: {} })
 * if (!loaded.help) createGateway(loaded.settings, { forward: fetchForwarder() })
 * ```
 */
export function fetchForwarder(fetchImpl: typeof fetch = (input, init) => fetch(input, init)): Forwarder {
  return async (c, request) => {
    const headers = new Headers()
    for (const name in request.headers) {
      const value = request.headers[name] as string | readonly string[]
      if (typeof value === 'string') headers.set(name, value)
      else for (const v of value) headers.append(name, v)
    }
    headers.set('accept-encoding', 'identity')
    const client = c.req.raw
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && client.body !== null
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, request.timeoutMs)
    // The client going away stops the upstream request, during the wait and the body alike.
    const clientSignal = client.signal
    const onClientAbort = () => controller.abort(clientSignal.reason)
    if (clientSignal.aborted) onClientAbort()
    else clientSignal.addEventListener('abort', onClientAbort, { once: true })
    try {
      const init: RequestInit & { duplex?: 'half' } = {
        method: request.method,
        headers,
        redirect: 'manual',
        signal: controller.signal,
        ...(hasBody ? { body: client.body, duplex: 'half' } : {}),
      }
      const response = await fetchImpl(`${request.upstream.origin}${request.path}`, init)
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers: dropHopByHop(new Headers(response.headers)),
      })
    } catch (error) {
      clientSignal.removeEventListener('abort', onClientAbort)
      throw timedOut ? timeoutError(request.timeoutMs, error) : unreachableError(error)
    } finally {
      clearTimeout(timer)
    }
  }
}

/** A short description of a network error (its code when there is one). */
export function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause
  if (cause && typeof cause.code === 'string') return cause.code
  const code = (error as { code?: unknown } | undefined)?.code
  if (typeof code === 'string') return code
  return error instanceof Error ? error.message : String(error)
}
