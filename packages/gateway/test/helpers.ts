/** Test fixtures: a loopback upstream (an OGC API–like tree and an OpenAPI document) on Node, Deno or Bun. */
import type { PolicyEngine } from '@keyfob/guard'
import { createMockIdp, type MockIdp } from '@keyfob/mock-idp'
import { createGateway, fetchForwarder, fromFastgeoapiEnv, type Gateway, loadConfig } from '../src/index.ts'

export const AUDIENCE = 'https://api.example/geoapi'
export const API_KEY = 'global-key-0123456789abcdef'

/** A server on 127.0.0.1 (a free port). */
export interface LoopbackServer {
  readonly url: string
  close(): Promise<void>
}

type Handler = (request: Request) => Response | Promise<Response>

interface DenoLike {
  serve(
    options: { port: number; hostname: string; onListen?: () => void },
    handler: Handler,
  ): { readonly addr: { readonly port: number }; shutdown(): Promise<void> }
}

interface BunLike {
  serve(options: { port: number; hostname: string; fetch: Handler }): {
    readonly port: number
    stop(force?: boolean): void
  }
}

/** Starts a real HTTP server on loopback with a Fetch API handler (streams both ways on every runtime). */
export async function startServer(handler: Handler): Promise<LoopbackServer> {
  const runtime = globalThis as { Deno?: DenoLike; Bun?: BunLike }
  if (runtime.Deno) {
    const server = runtime.Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: () => {} }, handler)
    return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() }
  }
  if (runtime.Bun) {
    const server = runtime.Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: handler })
    return {
      url: `http://127.0.0.1:${server.port}`,
      close: async () => {
        server.stop(true)
      },
    }
  }
  const { serve } = await import('@hono/node-server')
  return new Promise((resolve) => {
    const server = serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            ;(server as unknown as { closeAllConnections(): void }).closeAllConnections()
          }),
      })
    })
  })
}

/** A minimal OpenAPI 3.0 document as pygeoapi serves it at /openapi?f=json. */
export function openapiDocument(): Record<string, unknown> {
  const get = (summary: string) => ({ summary, responses: { '200': { description: 'ok' } } })
  return {
    openapi: '3.0.2',
    info: { title: 'pygeoapi stand-in', version: '0.1.0' },
    servers: [{ url: 'http://127.0.0.1/geoapi' }],
    paths: {
      '/': { get: get('Landing page') },
      '/openapi': { get: get('This document') },
      '/conformance': { get: get('Conformance') },
      '/collections': { get: get('Collections') },
      '/collections/{collectionId}/items': {
        get: get('Items'),
        post: { summary: 'Add an item', responses: { '201': { description: 'created' } } },
        options: { summary: 'Options', responses: { '200': { description: 'ok' } } },
        put: { summary: 'Replace', responses: { '200': { description: 'ok' } } },
        patch: { summary: 'Patch', responses: { '200': { description: 'ok' } } },
        delete: { summary: 'Delete', responses: { '204': { description: 'gone' } } },
        head: { summary: 'Head', responses: { '200': { description: 'ok' } } },
      },
    },
  }
}

/**
 * An upstream like pygeoapi: `/`, `/conformance`, `/collections`, `/collections/obs/items`, the
 * OpenAPI document at `/openapi?f=json` (HTML otherwise), `/echo` (the request as JSON),
 * `/bytes?n=` (n bytes, streamed), `/upload` (counts the request body).
 */
export function upstreamHandler(request: Request): Response | Promise<Response> {
  const url = new URL(request.url)
  const json = (value: unknown, status = 200, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(value), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    })
  switch (url.pathname) {
    case '/':
      return json({ title: 'landing', links: [] })
    case '/conformance':
      return json({ conformsTo: ['http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core'] })
    case '/openapi':
      if (url.searchParams.get('f') === 'json')
        return json(openapiDocument(), 200, {
          'content-type': 'application/vnd.oai.openapi+json;version=3.0',
        })
      return new Response('<html><body>Swagger UI</body></html>', {
        headers: { 'content-type': 'text/html' },
      })
    case '/collections':
      return json({ collections: [{ id: 'obs' }] })
    case '/collections/obs/items':
      return json({ type: 'FeatureCollection', features: [] })
    case '/echo': {
      const headers: Record<string, string> = {}
      request.headers.forEach((v, k) => {
        headers[k] = v
      })
      return json({ method: request.method, path: url.pathname, search: url.search, headers }, 200, {
        connection: 'x-upstream-private',
        'x-upstream-private': 'hop',
        'keep-alive': 'timeout=5',
      })
    }
    case '/bytes': {
      const n = Number(url.searchParams.get('n') ?? '0')
      const chunk = new Uint8Array(64 * 1024).fill(97)
      let sent = 0
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= n) return controller.close()
          const size = Math.min(chunk.length, n - sent)
          sent += size
          controller.enqueue(size === chunk.length ? chunk : chunk.subarray(0, size))
        },
      })
      return new Response(body, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(n) },
      })
    }
    case '/upload':
      return (async () => {
        let total = 0
        const reader = (request.body as ReadableStream<Uint8Array>).getReader()
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          total += value.length
        }
        return json({ received: total })
      })()
    default:
      return json({ error: 'not found' }, 404)
  }
}

/**
 * An upstream that holds every request under `/held` until the test releases it, so no clock
 * decides when it answers; anything else it answers at once with `{"held":false}`.
 */
export interface HeldUpstream extends LoopbackServer {
  /** Resolves when a request under `/held` has arrived (and is being held). */
  readonly arrived: Promise<void>
  /** Answers every held request (and every later one) with 200 `{"held":true}`. */
  release(): void
}

/** Starts a {@link HeldUpstream} on loopback. */
export async function startHeldUpstream(): Promise<HeldUpstream> {
  let release = () => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let arrive = () => {}
  const arrived = new Promise<void>((resolve) => {
    arrive = resolve
  })
  const server = await startServer(async (request) => {
    const held = new URL(request.url).pathname.startsWith('/held')
    if (held) {
      arrive()
      await released
    }
    return new Response(JSON.stringify({ held }), { headers: { 'content-type': 'application/json' } })
  })
  return {
    url: server.url,
    arrived,
    release,
    close: async () => {
      release()
      await server.close()
    },
  }
}

/**
 * Forces a garbage collection where the runtime allows it (Node with `--expose-gc`, as vitest
 * runs; Bun); `false` where it cannot (Deno without the V8 flag).
 */
export function collectGarbage(): boolean {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun
  if (bun) {
    bun.gc(true)
    return true
  }
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return false
  gc()
  return true
}

/** A mock IdP whose access tokens name {@link AUDIENCE}. */
export function testIdp(): Promise<MockIdp> {
  return createMockIdp({
    clients: [
      { clientId: 'svc', clientSecret: 'svc-secret-value' },
      { clientId: 'api', clientSecret: 'api-secret-value' },
    ],
    audience: AUDIENCE,
    scopes: ['openid', 'read', 'write'],
  })
}

/** A token for `sub` with `scope`. */
export async function tokenFor(idp: MockIdp, scope = 'read', sub = 'alice'): Promise<string> {
  const { access_token } = await idp.control.tokens.issue({ clientId: 'svc', scope, sub })
  return access_token
}

/** A gateway from argv (and env), in process, with a log collector. */
export function gatewayFrom(
  argv: readonly string[],
  options: { env?: Record<string, string>; fetch?: typeof fetch; cedar?: PolicyEngine } = {},
): { gateway: Gateway; lines: () => Record<string, unknown>[]; raw: string[] } {
  const loaded = loadConfig({ argv, env: options.env ?? {}, fastgeoapi: fromFastgeoapiEnv })
  if (loaded.help) throw new Error('unexpected --help')
  const raw: string[] = []
  const gateway = createGateway(loaded.settings, {
    forward: fetchForwarder(),
    clientAddress: () => '203.0.113.7',
    log: (line) => raw.push(line),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.cedar ? { cedar: options.cedar } : {}),
  })
  return {
    gateway,
    raw,
    lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

/** A request to the in-process gateway. */
export function call(gateway: Gateway, path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(gateway.fetch(new Request(`http://gateway.test${path}`, init)))
}
