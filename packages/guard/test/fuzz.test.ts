/**
 * Property-based fuzzing and end-to-end checks: whatever credentials, paths and methods arrive,
 * the guard answers 200/400/401/403 with an RFC 6750 shape, never a 5xx, and never echoes the
 * credential; the same holds over a real socket.
 */
import type { MockIdp } from '@keyfob/mock-idp'
import fc from 'fast-check'
import type { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jwtMode } from '../examples/pygeoapi.ts'
import { apiKeyAuth, type GuardEnv, guard, jwtAuth, oidcAuth, requireScopes } from '../src/index.ts'
import {
  AUDIENCE,
  accessToken,
  b64url,
  type LoopbackServer,
  protectedApp,
  RESOURCE_SERVER,
  startServer,
  testIdp,
} from './helpers.ts'

const KEY = 'fuzz-key-0123456789abcdef'
let idp: MockIdp
let valid: string
let apps: Hono<GuardEnv>[]

beforeAll(async () => {
  idp = await testIdp()
  valid = await accessToken(idp)
  const jwt = () =>
    jwtAuth({ jwksUrl: `${idp.issuer}/jwks`, issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch })
  apps = [
    protectedApp(jwt(), requireScopes('read')),
    protectedApp(
      guard({
        schemes: [jwt(), apiKeyAuth({ keys: [KEY] })],
        combine: 'first-present',
        publicPaths: ['GET /openapi', '/docs/*'],
      }),
    ),
    protectedApp(
      oidcAuth({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch, introspection: RESOURCE_SERVER }),
    ),
  ]
})

/** Token-ish strings: pieces of a real token, base64url JSON, junk, huge and empty values. */
const tokenish = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary-ascii', maxLength: 200 }),
    fc.constantFrom('', ' ', '.', '..', 'a.b.c', 'null', 'Bearer', '=', '%00'),
    fc.tuple(fc.json(), fc.json(), fc.string()).map(([h, p, s]) => `${b64url(h)}.${b64url(p)}.${b64url(s)}`),
    fc.nat({ max: 3 }).map((i) => (valid.split('.')[i] ?? valid) + (i === 3 ? 'x' : '')),
    fc.integer({ min: 0, max: 20_000 }).map((n) => 'A'.repeat(n)),
    fc.constant(valid),
  )

const authorization = (): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    fc.constant(undefined),
    tokenish().map((t) => `Bearer ${t}`),
    fc
      .tuple(fc.constantFrom('bearer', 'BEARER', 'Basic', 'DPoP', 'Bearer  ', ''), tokenish())
      .map(([s, t]) => `${s} ${t}`),
    fc.tuple(tokenish(), tokenish()).map(([a, b]) => `Bearer ${a}, Bearer ${b}`),
  )

const path = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      '/',
      '/openapi',
      '/openapi/',
      '/openapi-evil',
      '/docs',
      '/docs/a',
      '/collections/obs/items',
      '//x',
    ),
    fc.webPath(),
    fc
      .array(fc.constantFrom('a', '%2F', '..', '.', '%00', 'docs', 'openapi', ''), { maxLength: 5 })
      .map((s) => `/${s.join('/')}`),
  )

describe('fuzz: the guard never answers 5xx', () => {
  it('for any Authorization, API key, method and path', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 2 }),
        authorization(),
        fc.option(tokenish(), { nil: undefined }),
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
        path(),
        async (which, auth, apiKey, method, p) => {
          const headers = new Headers()
          // Header values must be ByteStrings without CR/LF/NUL; other input cannot reach a server.
          const safe = (v: string) => v.replace(/[^\x20-\x7e]/g, '')
          if (auth !== undefined) headers.set('authorization', safe(auth))
          if (apiKey !== undefined) headers.set('x-api-key', safe(apiKey))
          let url: URL
          try {
            url = new URL(p, 'http://api.example')
          } catch {
            return
          }
          const app = apps[which] as Hono<GuardEnv>
          const response = await app.request(url.href, { method, headers })
          expect([200, 400, 401, 403]).toContain(response.status)
          if (response.status !== 200 && method !== 'HEAD') {
            const text = await response.text()
            const body = JSON.parse(text)
            expect(typeof body.error).toBe('string')
            expect(typeof body.error_description).toBe('string')
            if (auth !== undefined && safe(auth).length > 20) expect(text).not.toContain(safe(auth).slice(7))
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('end to end over a real socket', () => {
  let server: LoopbackServer

  beforeAll(async () => {
    const app = jwtMode({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch })
    server = await startServer((request) => app.fetch(request))
  })
  afterAll(async () => {
    await server.close()
  })

  it('serves the protected API: public, authenticated, refused', async () => {
    expect((await fetch(`${server.url}/geoapi/openapi`)).status).toBe(200)
    const ok = await fetch(`${server.url}/geoapi/collections`, {
      headers: { authorization: `Bearer ${valid}` },
    })
    expect(ok.status).toBe(200)
    expect((await ok.json()).collections.length).toBe(2)
    const missing = await fetch(`${server.url}/geoapi/collections`)
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer')
    const bad = await fetch(`${server.url}/geoapi/collections`, {
      headers: { authorization: `Bearer ${valid}x` },
    })
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"')
    const options = await fetch(`${server.url}/geoapi/collections`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    })
    expect(options.status).toBe(401)
  })

  it('two Authorization header lines on the wire are 400 invalid_request', async () => {
    const headers = new Headers()
    headers.append('authorization', `Bearer ${valid}`)
    headers.append('authorization', `Bearer ${valid}`)
    const response = await fetch(`${server.url}/geoapi/collections`, { headers })
    expect(response.status).toBe(400)
    expect((await response.json()).error).toBe('invalid_request')
  })
})
