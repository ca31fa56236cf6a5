/** Forwarding a request upstream: headers in and out, and a streaming `fetch` forwarder. @module */
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
  const listed = headers.get('connection')
  if (listed) for (const name of listed.split(',')) headers.delete(name.trim())
  for (const name of HOP_BY_HOP) headers.delete(name)
  return headers
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

/**
 * Sends a prepared request upstream and returns the upstream's response, streaming both bodies.
 * Throws {@link UpstreamError} when no response arrives.
 */
export type Forwarder = (
  c: Context,
  request: {
    readonly url: URL
    readonly method: string
    readonly headers: Headers
    readonly timeoutMs: number
  },
) => Promise<Response>

/**
 * A {@link Forwarder} over `fetch` (Deno, Bun, any runtime): the request body is passed as a
 * stream (`duplex: 'half'`), the response body is returned unread, so both directions stream with
 * backpressure. Asks the upstream for `accept-encoding: identity`, because `fetch`
 * implementations decode compressed bodies without saying so. The timeout covers the wait for
 * response headers only; a long download is not cut off.
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
    const headers = new Headers(request.headers)
    headers.set('accept-encoding', 'identity')
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && c.req.raw.body !== null
    const timer = new AbortController()
    const timeout = setTimeout(() => timer.abort(), request.timeoutMs)
    const signal = AbortSignal.any([timer.signal, c.req.raw.signal])
    try {
      const init: RequestInit & { duplex?: 'half' } = {
        method: request.method,
        headers,
        redirect: 'manual',
        signal,
        ...(hasBody ? { body: c.req.raw.body, duplex: 'half' } : {}),
      }
      const response = await fetchImpl(request.url, init)
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers: dropHopByHop(new Headers(response.headers)),
      })
    } catch (error) {
      if (timer.signal.aborted) {
        throw new UpstreamError('timeout', `no response headers within ${request.timeoutMs} ms`, {
          cause: error,
        })
      }
      throw new UpstreamError('unreachable', `the upstream could not be reached: ${describe(error)}`, {
        cause: error,
      })
    } finally {
      clearTimeout(timeout)
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
