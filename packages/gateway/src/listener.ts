/**
 * A Fetch API handler (the gateway's Hono app) as a `node:http` request listener. @internal @module
 *
 * `@hono/node-server` does the same for any app, and the gateway used it; but it reads every
 * response's headers through a `Headers` object even when the route already wrote the response to
 * the socket (the streaming proxy always has), which cost more CPU per proxied request than the
 * guard's whole check of a cached token (measured with `bench/guard-gateway`). This listener
 * recognises an already-sent response by identity and writes other responses itself. It keeps
 * `@hono/node-server`'s request semantics: `request.url` is exactly what `new URL()` makes of the
 * scheme, `Host` and request-target (computed without parsing when the string is already in that
 * form), a `Host` that is not exactly a host and port is a 400 (upper case is fine; unlike
 * `@hono/node-server`, which refuses it), and the request's `signal` aborts when the client goes
 * away before its response is complete.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'

/** The bindings every request's handler gets as its `env` (`c.env` in Hono). */
export interface NodeBindings {
  readonly incoming: IncomingMessage
  readonly outgoing: ServerResponse
}

/** A handler's way of saying "the response is already on the socket" (`@hono/node-server`'s own marker). */
export const ALREADY_SENT: Response = RESPONSE_ALREADY_SENT
/** The header that marks {@link ALREADY_SENT}, also after Hono copied it into a new `Response`. */
const ALREADY_SENT_HEADER = 'x-hono-already-sent'

/**
 * Request-targets that `new URL()` leaves exactly as they are: origin-form, only characters no
 * part of the URL percent-encodes (RFC 3986 unreserved, sub-delims but `'`, `:`, `@`, `%`, `/`),
 * and no segment that starts with a dot (`/.`) or an encoded one (`%2e`), which URL parsing could
 * resolve as a dot segment.
 */
const PLAIN_TARGET = /^\/[\w\-.~!$&()*+,;=:@%/]*(?:\?[\w\-.~!$&()*+,;=:@%/?]*)?$/
const DOT = /\/\.|%2e/i
/** `Host` values that `new URL()` leaves as they are: a lower-case name whose last label is not numeric, or a dotted-quad IPv4 address, with a port that is not http's default. */
const PLAIN_HOST =
  /^(?:(?:[a-z0-9-]+\.)*[a-z-][a-z0-9-]*|(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))(?::[1-9]\d{0,4})?$/

/** Why a request could not be turned into a `Request`: answered with a 400. */
class BadRequest extends Error {}

/** The absolute URL of a request, as `@hono/node-server` (and `new URL()`) spell it. */
export function requestUrl(incoming: IncomingMessage, defaultHost: string): string {
  const target = incoming.url ?? '/'
  const scheme = (incoming.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
  if (target.charCodeAt(0) !== 47) {
    // absolute-form (`GET http://host/path`, as a client talking to a proxy sends it).
    if (!/^https?:\/\//i.test(target)) throw new BadRequest(`request-target ${target.slice(0, 40)}`)
    try {
      return new URL(target).href
    } catch {
      throw new BadRequest('request-target')
    }
  }
  const host = incoming.headers.host ?? defaultHost
  if (host === '') throw new BadRequest('missing Host')
  if (PLAIN_HOST.test(host) && PLAIN_TARGET.test(target) && !DOT.test(target)) {
    const colon = host.lastIndexOf(':')
    const port = colon === -1 ? undefined : Number(host.slice(colon + 1))
    if (port === undefined || (port <= 65535 && port !== (scheme === 'https' ? 443 : 80))) {
      return `${scheme}://${host}${target}`
    }
  }
  let url: URL
  try {
    url = new URL(`${scheme}://${host}${target}`)
  } catch {
    throw new BadRequest('Host')
  }
  // `Host: a/b` parses as host `a` with a path, `a@b` as host `b`: the Host must name the host the
  // URL has (case aside, RFC 9110 §4.2.3), or the app would see another one than the client sent.
  if (url.hostname !== host.replace(/:\d*$/, '').toLowerCase()) throw new BadRequest('Host')
  return url.href
}

const INCOMING = Symbol('incoming')
const OUTGOING = Symbol('outgoing')
const URL_KEY = Symbol('url')
const HEADERS = Symbol('headers')
const SIGNAL = Symbol('signal')
const BODY = Symbol('body')
const REQUEST = Symbol('request')

interface LightRequest {
  [INCOMING]: IncomingMessage
  [OUTGOING]: ServerResponse
  [URL_KEY]: string
  [HEADERS]?: Headers
  [SIGNAL]?: AbortSignal
  [BODY]?: ReadableStream<Uint8Array> | null
  [REQUEST]?: Request
}

/** The client's headers as a `Headers` (built once, on first use). */
function headersFromRaw(incoming: IncomingMessage): Headers {
  const headers = new Headers()
  const raw = incoming.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    // HTTP/2 pseudo-headers never reach node:http/1.1, but stay safe if a server passes them.
    if (name.charCodeAt(0) !== 58) headers.append(name, raw[i + 1] as string)
  }
  return headers
}

/**
 * The `Request` behind a light request: `method`, `url`, `headers`, `signal` and `body` are read
 * from `node:http` directly; every other member (`clone()`, `text()`, `cache`, …) from a real
 * `Request` made on first use, sharing that signal and body.
 */
const lightPrototype = {
  get method(): string {
    return (this as unknown as LightRequest)[INCOMING].method ?? 'GET'
  },
  get url(): string {
    return (this as unknown as LightRequest)[URL_KEY]
  },
  get headers(): Headers {
    const self = this as unknown as LightRequest
    self[HEADERS] ??= headersFromRaw(self[INCOMING])
    return self[HEADERS]
  },
  get signal(): AbortSignal {
    const self = this as unknown as LightRequest
    if (self[SIGNAL] === undefined) {
      const controller = new AbortController()
      const outgoing = self[OUTGOING]
      outgoing.once('close', () => {
        if (!outgoing.writableFinished) controller.abort(new Error('the client closed the connection'))
      })
      self[SIGNAL] = controller.signal
    }
    return self[SIGNAL]
  },
  get body(): ReadableStream<Uint8Array> | null {
    const self = this as unknown as LightRequest
    if (self[BODY] === undefined) {
      const incoming = self[INCOMING]
      self[BODY] =
        incoming.method === 'GET' || incoming.method === 'HEAD'
          ? null
          : (Readable.toWeb(incoming) as unknown as ReadableStream<Uint8Array>)
    }
    return self[BODY]
  },
}
function realRequest(self: LightRequest & Request): Request {
  if (self[REQUEST] === undefined) {
    const body = self.body
    const init: RequestInit & { duplex?: 'half' } = {
      method: self.method,
      headers: self.headers,
      signal: self.signal,
      ...(body !== null ? { body, duplex: 'half' } : {}),
    }
    self[REQUEST] = new Request(self.url, init)
  }
  return self[REQUEST]
}
for (const key of [
  'bodyUsed',
  'cache',
  'credentials',
  'destination',
  'integrity',
  'keepalive',
  'mode',
  'redirect',
  'referrer',
  'referrerPolicy',
]) {
  Object.defineProperty(lightPrototype, key, {
    get(this: LightRequest & Request) {
      return realRequest(this)[key as keyof Request]
    },
  })
}
for (const key of ['arrayBuffer', 'blob', 'bytes', 'clone', 'formData', 'json', 'text']) {
  Object.defineProperty(lightPrototype, key, {
    value(this: LightRequest & Request) {
      return (realRequest(this) as unknown as Record<string, () => unknown>)[key]?.()
    },
  })
}
Object.setPrototypeOf(lightPrototype, Request.prototype)

function lightRequest(incoming: IncomingMessage, outgoing: ServerResponse, url: string): Request {
  const request = Object.create(lightPrototype) as LightRequest
  request[INCOMING] = incoming
  request[OUTGOING] = outgoing
  request[URL_KEY] = url
  return request as unknown as Request
}

/** A last-resort answer when the handler itself failed (Hono's `onError` normally answers first). */
function fail(
  outgoing: ServerResponse,
  status: 400 | 500,
  log: (error: unknown) => void,
  error: unknown,
): void {
  if (status === 500) log(error)
  if (outgoing.headersSent) {
    outgoing.destroy()
    return
  }
  const body =
    status === 400
      ? '{"error":"invalid_request","error_description":"the Host header or request-target is not valid"}'
      : '{"error":"server_error","error_description":"the gateway failed on this request"}'
  outgoing.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  })
  outgoing.end(body)
}

/** Writes a handler's `Response` to `node:http`, unless the handler already did. */
async function send(response: Response, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
  if (response === ALREADY_SENT || response.headers.has(ALREADY_SENT_HEADER)) return
  const headers: string[] = []
  // Iteration yields each `set-cookie` on its own, every other name once with its values joined.
  response.headers.forEach((value, name) => {
    headers.push(name, value)
  })
  const body = incoming.method === 'HEAD' ? null : response.body
  if (body === null) {
    void response.body?.cancel().catch(() => {})
    writeHead(outgoing, response, headers)
    outgoing.end()
    return
  }
  // Most answers the gateway makes itself are one chunk (a JSON error, a patched OpenAPI
  // document): read ahead so they go out with a Content-Length rather than chunked.
  const reader = body.getReader()
  const first = await reader.read()
  const second = first.done ? first : await reader.read()
  if (second.done) {
    const chunk = first.done ? undefined : first.value
    if (!headers.some((name, i) => i % 2 === 0 && name === 'content-length')) {
      headers.push('content-length', String(chunk?.byteLength ?? 0))
    }
    writeHead(outgoing, response, headers)
    outgoing.end(chunk)
    return
  }
  writeHead(outgoing, response, headers)
  const chunks = async function* () {
    try {
      yield first.value as Uint8Array
      yield second.value as Uint8Array
      for (;;) {
        const next = await reader.read()
        if (next.done) return
        yield next.value
      }
    } finally {
      // The client went away (or the write failed): stop the source as well.
      void reader.cancel().catch(() => {})
    }
  }
  // A client that goes away mid-body ends the pipeline with an error: nothing to answer or log.
  await pipeline(chunks, outgoing).catch(() => outgoing.destroy())
}

function writeHead(outgoing: ServerResponse, response: Response, headers: string[]): void {
  if (response.statusText !== '') outgoing.writeHead(response.status, response.statusText, headers)
  else outgoing.writeHead(response.status, headers)
}

/**
 * A `node:http` request listener that runs `fetch` (a Hono app's) with a light `Request` and
 * `{ incoming, outgoing }` as its `env`, and writes the `Response` it returns, unless that is
 * {@link ALREADY_SENT}.
 *
 * @param fetch - The handler.
 * @param options - `defaultHost`: the authority for HTTP/1.0 requests without `Host` (read per
 *   request, so it can name the port once the server listens); `log`: where a handler failure that
 *   escaped it goes.
 * @returns The listener.
 */
export function nodeListener(
  fetch: (request: Request, env: NodeBindings) => Response | Promise<Response>,
  options: { readonly defaultHost: () => string; readonly log: (error: unknown) => void },
): (incoming: IncomingMessage, outgoing: ServerResponse) => void {
  return (incoming, outgoing) => {
    let url: string
    try {
      url = requestUrl(incoming, options.defaultHost())
    } catch (error) {
      fail(outgoing, 400, options.log, error)
      return
    }
    const done = (error: unknown) => fail(outgoing, 500, options.log, error)
    let result: Response | Promise<Response>
    try {
      result = fetch(lightRequest(incoming, outgoing, url), { incoming, outgoing })
    } catch (error) {
      done(error)
      return
    }
    if (result instanceof Promise) {
      result.then((response) => send(response, incoming, outgoing)).catch(done)
    } else send(result, incoming, outgoing).catch(done)
  }
}
