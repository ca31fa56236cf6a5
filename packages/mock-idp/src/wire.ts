/** Strict request parsing and RFC-shaped error answers. @module */

/** The largest request body the IdP reads (64 KiB). @internal */
export const MAX_BODY_BYTES: number = 64 * 1024

/**
 * An OAuth error to answer with: thrown by handlers, turned into an RFC 6749 §5.2 JSON response
 * (with `Cache-Control: no-store`) by the endpoint wrapper. @internal
 */
export class OAuthFailure extends Error {
  readonly status: number
  readonly error: string
  readonly description: string
  readonly headers: Readonly<Record<string, string>>

  constructor(status: number, error: string, description: string, headers: Record<string, string> = {}) {
    super(`${error}: ${description}`)
    this.status = status
    this.error = error
    this.description = description
    this.headers = headers
  }
}

/** Shorthand for `new OAuthFailure(400, error, description)`. @internal */
export function fail(error: string, description: string, status = 400): OAuthFailure {
  return new OAuthFailure(status, error, description)
}

/** Headers every OAuth JSON response carries (RFC 6749 §5.1). @internal */
export const NO_STORE: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
}

/** A JSON response with `Cache-Control: no-store`. @internal */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...NO_STORE, ...headers },
  })
}

/** The JSON error response for a failure. @internal */
export function errorResponse(failure: OAuthFailure): Response {
  return json({ error: failure.error, error_description: failure.description }, failure.status, {
    ...failure.headers,
  })
}

/** Parameters that may be repeated: `resource` (RFC 8707 §2). */
const REPEATABLE = new Set(['resource'])

/**
 * Request parameters: one value per name, except the repeatable ones, whose every value
 * {@link allValues} returns (`get` gives them joined by spaces, for the journal). @internal
 */
export class Params extends Map<string, string> {
  readonly repeated: Map<string, string[]> = new Map()
}

/** Every value of a parameter, in request order (repeatable parameters may have several). @internal */
export function allValues(params: ReadonlyMap<string, string>, name: string): string[] {
  const many = params instanceof Params ? params.repeated.get(name) : undefined
  if (many !== undefined) return [...many]
  const one = params.get(name)
  return one === undefined ? [] : [one]
}

/**
 * Parses URL-encoded parameters strictly: a parameter given twice is an error (RFC 6749 §3.1),
 * except `resource` (RFC 8707 §2), and a parameter with an empty value counts as absent. @internal
 */
export function parseParams(source: URLSearchParams): Params {
  const params = new Params()
  const seen = new Set<string>()
  for (const [key, value] of source) {
    if (REPEATABLE.has(key)) {
      if (value === '')
        throw fail('invalid_target', `an empty "${key}" parameter is not a resource (RFC 8707 §2)`)
      const values = params.repeated.get(key) ?? []
      values.push(value)
      params.repeated.set(key, values)
      params.set(key, values.join(' '))
      continue
    }
    if (seen.has(key))
      throw fail('invalid_request', `parameter "${truncate(key)}" is included more than once`)
    seen.add(key)
    if (value !== '') params.set(key, value)
  }
  return params
}

/**
 * Reads an `application/x-www-form-urlencoded` POST body (RFC 6749 §3.2), bounded in size. @internal
 */
export async function readForm(request: Request): Promise<Params> {
  if (request.method !== 'POST') {
    throw new OAuthFailure(
      405,
      'invalid_request',
      `this endpoint takes POST, not ${truncate(request.method)}`,
      {
        allow: 'POST',
      },
    )
  }
  const type = request.headers.get('content-type') ?? ''
  if (type.split(';')[0]?.trim().toLowerCase() !== 'application/x-www-form-urlencoded') {
    throw fail(
      'invalid_request',
      `the body must be application/x-www-form-urlencoded, got ${type === '' ? 'no content type' : `"${truncate(type)}"`}`,
    )
  }
  return parseParams(new URLSearchParams(await readText(request)))
}

/** The part of Node's `IncomingMessage` the body reader uses (typed here: no Node types in this package). @internal */
export interface NodeIncoming {
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>
}

const nodeBodies = new WeakMap<Request, NodeIncoming>()

/**
 * On Node, reads bodies straight from the `IncomingMessage`: building a web stream per request
 * was most of the token endpoint's cost under load. @internal
 */
export function bindNodeBody(request: Request, incoming: NodeIncoming): void {
  nodeBodies.set(request, incoming)
}

/** Reads a body as UTF-8 text, refusing more than {@link MAX_BODY_BYTES}. @internal */
export async function readText(request: Request): Promise<string> {
  const incoming = nodeBodies.get(request)
  if (incoming) {
    nodeBodies.delete(request)
    const declared = Number(request.headers.get('content-length') ?? '0')
    if (declared > MAX_BODY_BYTES) throw tooLarge()
    const chunks: Uint8Array[] = []
    let size = 0
    for await (const chunk of incoming) {
      size += chunk.byteLength
      if (size > MAX_BODY_BYTES) throw tooLarge()
      chunks.push(chunk)
    }
    return decodeUtf8(concat(chunks, size))
  }
  const length = request.headers.get('content-length')
  const declared = Number(length ?? '0')
  if (declared > MAX_BODY_BYTES) throw tooLarge()
  if (!request.body) return ''
  if (length !== null && /^\d+$/.test(length)) {
    // HTTP framing bounds the body by Content-Length, so text() cannot read more than declared.
    const bytes = new Uint8Array(await request.arrayBuffer())
    if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge()
    return decodeUtf8(bytes)
  }
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  return decodeUtf8(concat(chunks, size))
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0]
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw fail('invalid_request', 'the body is not valid UTF-8')
  }
}

function tooLarge(): OAuthFailure {
  return new OAuthFailure(413, 'invalid_request', `the body is larger than ${MAX_BODY_BYTES} bytes`)
}

/** Reads a JSON object body (dynamic registration, control plane), bounded in size. @internal */
export async function readJsonObject(
  request: Request,
  error = 'invalid_request',
): Promise<Record<string, unknown>> {
  const type = request.headers.get('content-type') ?? ''
  if (type.split(';')[0]?.trim().toLowerCase() !== 'application/json') {
    throw fail(
      error,
      `the body must be application/json, got ${type === '' ? 'no content type' : `"${truncate(type)}"`}`,
    )
  }
  let value: unknown
  try {
    value = JSON.parse(await readText(request))
  } catch (cause) {
    if (cause instanceof OAuthFailure) throw cause
    throw fail(error, 'the body is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail(error, 'the body must be a JSON object')
  }
  return value as Record<string, unknown>
}

/** A required parameter, or `invalid_request` naming it. @internal */
export function required(params: ReadonlyMap<string, string>, name: string): string {
  const value = params.get(name)
  if (value === undefined) throw fail('invalid_request', `the "${name}" parameter is missing`)
  return value
}

/** Cuts a value for safe inclusion in an error description. @internal */
export function truncate(value: string, max = 64): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?')
  return clean.length > max ? `${clean.slice(0, max)}…` : clean
}

/**
 * Decodes an HTTP Basic `Authorization` header into client id and secret, undoing the
 * form-encoding RFC 6749 §2.3.1 applies to both. @internal
 */
export function parseBasic(header: string): { id: string; secret: string } {
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header)
  if (!match?.[1])
    throw new OAuthFailure(401, 'invalid_client', 'malformed Basic credentials', basicChallenge())
  let decoded: string
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(
      Uint8Array.from(atob(match[1]), (ch) => ch.charCodeAt(0)),
    )
  } catch {
    throw new OAuthFailure(401, 'invalid_client', 'malformed Basic credentials', basicChallenge())
  }
  const colon = decoded.indexOf(':')
  if (colon < 0)
    throw new OAuthFailure(401, 'invalid_client', 'malformed Basic credentials', basicChallenge())
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replaceAll('+', ' ')),
    }
  } catch {
    throw new OAuthFailure(401, 'invalid_client', 'malformed Basic credentials', basicChallenge())
  }
}

/** The challenge for a failed client authentication (RFC 6749 §5.2). @internal */
export function basicChallenge(): Record<string, string> {
  return { 'www-authenticate': 'Basic realm="mock-idp", charset="UTF-8"' }
}

/** An RFC 6750 §3 Bearer challenge. @internal */
export function bearerChallenge(error?: string, description?: string): Record<string, string> {
  const parts = ['realm="mock-idp"']
  if (error) parts.push(`error="${error}"`)
  if (description) parts.push(`error_description="${description.replaceAll('"', "'")}"`)
  return { 'www-authenticate': `Bearer ${parts.join(', ')}` }
}
