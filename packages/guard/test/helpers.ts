/** Shared test fixtures: a mock IdP, token helpers, a protected app, a loopback HTTP server. */
import { createMockIdp, type MockIdp, type MockIdpOptions } from '@keyfob/mock-idp'
import { Hono, type MiddlewareHandler } from 'hono'
import {
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTHeaderParameters,
  SignJWT,
} from 'jose'
import type { GuardEnv, GuardEvent } from '../src/index.ts'

export const AUDIENCE = 'https://api.example'
export const SERVICE = { clientId: 'svc', clientSecret: 'svc-secret-value' }
export const RESOURCE_SERVER = { clientId: 'api', clientSecret: 'api-secret-value' }

/** A mock IdP with a client for tokens and one for introspection; access tokens for {@link AUDIENCE}. */
export function testIdp(options: MockIdpOptions = {}): Promise<MockIdp> {
  return createMockIdp({
    clients: [SERVICE, RESOURCE_SERVER],
    audience: AUDIENCE,
    scopes: ['openid', 'profile', 'read', 'write', 'features:write'],
    users: [{ sub: 'alice', password: 'alice', claims: { company: 'acme', roles: ['editor'] } }],
    ...options,
  })
}

/** A real access token from the IdP's token machinery. */
export async function accessToken(
  idp: MockIdp,
  options: { scope?: string; sub?: string; audience?: string } = {},
): Promise<string> {
  const { access_token } = await idp.control.tokens.issue({
    clientId: SERVICE.clientId,
    scope: options.scope ?? 'read',
    ...(options.sub !== undefined ? { sub: options.sub } : {}),
    ...(options.audience !== undefined ? { audience: options.audience } : {}),
  })
  return access_token
}

/** Claims signed by the IdP's active key, with sane defaults that `overrides` replace (undefined drops one). */
export function signed(idp: MockIdp, overrides: Record<string, unknown> = {}, typ?: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const claims: Record<string, unknown> = {
    iss: idp.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    iat: now,
    exp: now + 600,
    scope: 'read',
    ...overrides,
  }
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k]
  return idp.control.tokens.sign(claims, typ !== undefined ? { typ } : {})
}

/** How many times the IdP's JWKS endpoint was requested. */
export function jwksFetches(idp: MockIdp): number {
  return idp.control.journal.entries({ endpoint: 'jwks' }).length
}

/** An app with `middleware` on every route and a handler that echoes `c.var.auth`. */
export function protectedApp(
  middleware: MiddlewareHandler<GuardEnv>,
  ...more: MiddlewareHandler<GuardEnv>[]
): Hono<GuardEnv> {
  const app = new Hono<GuardEnv>()
  app.use('*', middleware, ...more)
  app.all('*', (c) => {
    const auth = c.get('auth')
    return c.json({ ok: true, auth: auth ?? null })
  })
  return app
}

/** GET `path` with optional headers. */
export function get(
  app: Hono<GuardEnv>,
  path: string,
  headers: HeadersInit = {},
  method = 'GET',
): Promise<Response> {
  return Promise.resolve(app.request(`http://api.example${path}`, { method, headers }))
}

/** GET with `Authorization: Bearer <token>`. */
export function withToken(app: Hono<GuardEnv>, token: string, path = '/collections'): Promise<Response> {
  return get(app, path, { authorization: `Bearer ${token}` })
}

/** Collects events. */
export function recorder(): { events: GuardEvent[]; onEvent: (e: GuardEvent) => void } {
  const events: GuardEvent[] = []
  return { events, onEvent: (e) => events.push(e) }
}

/** The base64url encoding of a string. */
export function b64url(value: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(value)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
}

/** Decodes the JSON payload of a JWT. */
export function payloadOf(token: string): Record<string, unknown> {
  const part = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/')
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (ch) => ch.charCodeAt(0))))
}

/** A server on 127.0.0.1 (a free port) on Node, Deno or Bun. */
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

/** Starts a tiny real HTTP server (the OPA stand-in, a slow upstream) on loopback. */
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
  const http = await import('node:http')
  const server = http.createServer(async (req, res) => {
    const chunks: Uint8Array[] = []
    for await (const chunk of req) chunks.push(chunk as Uint8Array)
    const body = Buffer.concat(chunks)
    // rawHeaders keeps repeated headers (req.headers drops a second Authorization), as servers do.
    const headers = new Headers()
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string)
    }
    const response = await handler(
      new Request(`http://127.0.0.1${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body } : {}),
      }),
    )
    res.writeHead(response.status, Object.fromEntries(response.headers))
    res.end(Buffer.from(await response.arrayBuffer()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** Waits `ms` (only to let a cooldown pass; no test asserts a duration). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A client's DPoP key pair: the private key, its public JWK and that JWK's thumbprint (`cnf.jkt`). */
export interface DpopKey {
  readonly alg: string
  readonly privateKey: CryptoKey
  readonly jwk: JWK
  readonly jkt: string
}

/** A fresh DPoP key pair (ES256 unless told). */
export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) }
}

/** base64url(SHA-256(token)): a proof's `ath`. */
export async function athOf(token: string): Promise<string> {
  return base64url.encode(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))),
  )
}

let proofs = 0

/**
 * A DPoP proof (RFC 9449 §4.2) for `htm` `htu` and `token`, signed by `key`. `claims` replace the
 * defaults (undefined drops one); `header` replaces header members.
 */
export async function dpopProof(
  key: DpopKey,
  request: { htm?: string; htu: string; token?: string },
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const payload: Record<string, unknown> = {
    jti: `proof-${++proofs}-${crypto.randomUUID()}`,
    htm: request.htm ?? 'GET',
    htu: request.htu,
    iat: Math.floor(Date.now() / 1000),
    ...(request.token !== undefined ? { ath: await athOf(request.token) } : {}),
    ...claims,
  }
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k]
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...header } as JWTHeaderParameters)
    .sign(key.privateKey)
}
