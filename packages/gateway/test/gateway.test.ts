/** The gateway in process (fetch forwarder) in front of a real loopback upstream: every mode, headers, failures. */
import type { MockIdp } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cedarEngine, GatewayError, loadConfig } from '../src/index.ts'
import {
  API_KEY,
  AUDIENCE,
  call,
  collectGarbage,
  gatewayFrom,
  type LoopbackServer,
  startHeldUpstream,
  startServer,
  testIdp,
  tokenFor,
  upstreamHandler,
} from './helpers.ts'

let upstream: LoopbackServer
let idp: MockIdp
beforeAll(async () => {
  upstream = await startServer(upstreamHandler)
  idp = await testIdp()
})
afterAll(async () => {
  await upstream.close()
})

const keyMode = () => [
  '--upstream',
  upstream.url,
  '--mount',
  '/geoapi',
  '--api-key-env-prefix',
  'PYGEOAPI_KEY_',
]
const keyEnv = { PYGEOAPI_KEY_GLOBAL: API_KEY }
const jwtMode = (...extra: string[]) => [
  '--upstream',
  upstream.url,
  '--mount',
  '/geoapi',
  '--jwt-issuer',
  idp.issuer,
  '--jwks-url',
  `${idp.issuer}/jwks`,
  '--jwt-audience',
  AUDIENCE,
  ...extra,
]
const idpFetch = () => idp.fetch as unknown as typeof fetch

describe('keyfob-guard in API-key mode', () => {
  it('forwards under the mount with the prefix stripped, X-Forwarded-* set, hop-by-hop headers dropped both ways', async () => {
    const { gateway } = gatewayFrom(keyMode(), { env: keyEnv })
    const res = await call(gateway, '/geoapi/echo?f=json', {
      headers: {
        'x-api-key': API_KEY,
        connection: 'x-client-private',
        'x-client-private': 'hop',
        'x-forwarded-for': '198.51.100.1',
        'x-forwarded-prefix': '/spoofed',
      },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-upstream-private')).toBeNull()
    expect(res.headers.get('keep-alive')).toBeNull()
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    const echo = (await res.json()) as { path: string; search: string; headers: Record<string, string> }
    expect(echo.path).toBe('/echo')
    expect(echo.search).toBe('?f=json')
    expect(echo.headers['x-client-private']).toBeUndefined()
    expect(echo.headers['x-forwarded-for']).toBe('198.51.100.1, 203.0.113.7')
    expect(echo.headers['x-forwarded-prefix']).toBe('/geoapi')
    expect(echo.headers['x-forwarded-proto']).toBe('http')
    expect(echo.headers['x-forwarded-host']).toBe('gateway.test')
  })

  it('does not forward the credential, strips client-sent identity headers and sends its own', async () => {
    const { gateway } = gatewayFrom(keyMode(), { env: keyEnv })
    const res = await call(gateway, '/geoapi/echo', {
      headers: { 'x-api-key': API_KEY, 'x-auth-request-user': 'admin', 'x-auth-request-scopes': 'admin' },
    })
    const { headers } = (await res.json()) as { headers: Record<string, string> }
    expect(headers['x-api-key']).toBeUndefined()
    expect(headers['x-auth-request-user']).toBeUndefined()
    expect(headers['x-auth-request-scopes']).toBeUndefined()
    expect(headers['x-auth-request-key-id']).toBe('GLOBAL')
    // Public paths too: a client cannot pose as anyone on them either.
    const open = await call(gateway, '/geoapi/', { headers: { 'x-auth-request-user': 'admin' } })
    expect(open.status).toBe(200)
  })

  it('forwards the credential only when told to', async () => {
    const { gateway } = gatewayFrom([...keyMode(), '--forward-credential'], { env: keyEnv })
    const res = await call(gateway, '/geoapi/echo', { headers: { 'x-api-key': API_KEY } })
    expect(((await res.json()) as { headers: Record<string, string> }).headers['x-api-key']).toBe(API_KEY)
  })

  it('keeps the landing page, OpenAPI and conformance public; everything else needs the key; nothing outside the mount', async () => {
    const { gateway, lines } = gatewayFrom(keyMode(), { env: keyEnv })
    for (const path of ['/geoapi', '/geoapi/', '/geoapi/openapi', '/geoapi/conformance']) {
      expect((await call(gateway, path)).status).toBe(200)
    }
    const refused = await call(gateway, '/geoapi/collections')
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe('ApiKey header="X-API-KEY"')
    expect((await call(gateway, '/geoapi/openapi-evil')).status).toBe(401)
    expect((await call(gateway, '/geoapi/collections', { method: 'POST' })).status).toBe(401)
    expect(
      (await call(gateway, '/geoapi/collections', { headers: { 'x-api-key': 'wrong-key-0123456789' } }))
        .status,
    ).toBe(401)
    expect((await call(gateway, '/geoapi/collections', { headers: { 'x-api-key': API_KEY } })).status).toBe(
      200,
    )
    const outside = await call(gateway, '/other')
    expect(outside.status).toBe(404)
    expect(((await outside.json()) as { error: string }).error).toBe('not_found')
    // The mount is matched on the raw path: an encoded letter is not the mount, even with a key.
    const encoded = await call(gateway, '/geo%61pi/collections', { headers: { 'x-api-key': API_KEY } })
    expect(encoded.status).toBe(404)
    expect(lines().map((l) => l.reason)).toContain('public')
    expect(lines().map((l) => l.reason)).toContain('invalid_api_key')
  })

  it('refuses encoded "/", "\\" and "." in the path with a 400 before the guard, and decides on the path it forwards', async () => {
    const { gateway } = gatewayFrom([...keyMode(), '--public', 'GET /,GET /openapi/*,GET /conformance'], {
      env: keyEnv,
    })
    for (const path of [
      '/geoapi/openapi/..%2Fcollections',
      '/geoapi/conformance%2f..%2fcollections',
      '/geoapi/openapi/%2e%2e%2fcollections',
      '/geoapi/openapi%5c..%5ccollections',
      '/geoapi/openapi/x%00',
    ]) {
      const res = await call(gateway, path, { headers: { 'x-api-key': API_KEY } })
      expect({ path, status: res.status }).toEqual({ path, status: 400 })
      expect(((await res.json()) as { error: string }).error).toBe('invalid_request')
    }
    // `c%6fnformance` is not the public `conformance`: the guard sees the path the upstream gets.
    expect((await call(gateway, '/geoapi/c%6fnformance')).status).toBe(401)
    const echoed = await call(gateway, '/geoapi/echo', { headers: { 'x-api-key': API_KEY } })
    expect(((await echoed.json()) as { path: string }).path).toBe('/echo')
  })

  it('writes one JSON access-log line per request, never with the key or the query string', async () => {
    const { gateway, raw, lines } = gatewayFrom(keyMode(), { env: keyEnv })
    await call(gateway, '/geoapi/collections?token=secret-in-query', { headers: { 'x-api-key': API_KEY } })
    await call(gateway, '/geoapi/collections', { headers: { 'x-api-key': 'wrong-key-0123456789' } })
    expect(raw).toHaveLength(2)
    for (const line of raw) {
      expect(line).not.toContain(API_KEY)
      expect(line).not.toContain('wrong-key')
      expect(line).not.toContain('secret-in-query')
    }
    expect(lines()[0]).toMatchObject({
      method: 'GET',
      path: '/geoapi/collections',
      status: 200,
      decision: 'allow',
      key_id: 'GLOBAL',
    })
    expect(lines()[1]).toMatchObject({ status: 401, decision: 'deny', reason: 'invalid_api_key' })
  })
})

describe('keyfob-guard in JWT mode (tokens from the mock IdP)', () => {
  it('forwards a valid token as identity headers, not as Authorization', async () => {
    const { gateway, raw } = gatewayFrom(jwtMode(), { fetch: idpFetch() })
    const token = await tokenFor(idp, 'read write')
    const res = await call(gateway, '/geoapi/echo', { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    const { headers } = (await res.json()) as { headers: Record<string, string> }
    expect(headers.authorization).toBeUndefined()
    expect(headers['x-auth-request-user']).toBe('alice')
    expect(headers['x-auth-request-scopes']).toBe('read write')
    expect(headers['x-auth-request-client-id']).toBe('svc')
    expect(raw.join('\n')).not.toContain(token)
  })

  it('answers RFC 6750 errors: 401 without error for no token, invalid_token for a bad one, 403 for a missing scope', async () => {
    const { gateway } = gatewayFrom(jwtMode('--scopes', 'write'), { fetch: idpFetch() })
    const missing = await call(gateway, '/geoapi/collections')
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer')
    const bad = await call(gateway, '/geoapi/collections', { headers: { authorization: 'Bearer a.b.c' } })
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"')
    const readOnly = await call(gateway, '/geoapi/collections', {
      headers: { authorization: `Bearer ${await tokenFor(idp, 'read')}` },
    })
    expect(readOnly.status).toBe(403)
    const writer = await call(gateway, '/geoapi/collections', {
      headers: { authorization: `Bearer ${await tokenFor(idp, 'write')}` },
    })
    expect(writer.status).toBe(200)
    expect((await call(gateway, '/geoapi/openapi')).status).toBe(200)
  })

  it('--claims requires claims with the library semantics: 403 for a missing or other value', async () => {
    const { gateway } = gatewayFrom(jwtMode('--claims', 'client_id=svc|other,sub=alice'), {
      fetch: idpFetch(),
    })
    const alice = await call(gateway, '/geoapi/collections', {
      headers: { authorization: `Bearer ${await tokenFor(idp)}` },
    })
    expect(alice.status).toBe(200)
    const { gateway: others } = gatewayFrom(jwtMode('--claims', 'client_id=other|another'), {
      fetch: idpFetch(),
    })
    const refused = await call(others, '/geoapi/collections', {
      headers: { authorization: `Bearer ${await tokenFor(idp)}` },
    })
    expect(refused.status).toBe(403)
    expect((await call(gateway, '/geoapi/openapi')).status).toBe(200)
  })

  it('--cedar-policies decides in process: permitted reads pass, everything else is 403', async () => {
    const policies =
      'permit (principal, action == Action::"GET", resource) when { context.scopes.contains("read") };'
    const argv = jwtMode('--cedar-policies', 'policies.cedar')
    const loaded = loadConfig({ argv, env: {} })
    if (loaded.help) throw new Error('unexpected --help')
    const cedar = await cedarEngine(loaded.settings, (path) => {
      if (path !== 'policies.cedar') throw new Error('ENOENT')
      return policies
    })
    expect(() => gatewayFrom(argv, { fetch: idpFetch() })).toThrow(GatewayError)
    const { gateway } = gatewayFrom(argv, { fetch: idpFetch(), ...(cedar ? { cedar } : {}) })
    const reader = { authorization: `Bearer ${await tokenFor(idp, 'read')}` }
    expect((await call(gateway, '/geoapi/collections', { headers: reader })).status).toBe(200)
    expect(
      (await call(gateway, '/geoapi/collections', { method: 'POST', headers: reader, body: '{}' })).status,
    ).toBe(403)
    const writer = { authorization: `Bearer ${await tokenFor(idp, 'write')}` }
    expect((await call(gateway, '/geoapi/collections', { headers: writer })).status).toBe(403)
  }, 30_000)

  it('/healthz is always up; /readyz reports the JWKS reachable', async () => {
    const { gateway } = gatewayFrom(jwtMode(), { fetch: idpFetch() })
    expect(await (await call(gateway, '/healthz')).json()).toEqual({ status: 'ok' })
    const ready = await call(gateway, '/readyz')
    expect(ready.status).toBe(200)
    const body = (await ready.json()) as { ready: boolean; checks: Record<string, { ok: boolean }> }
    expect(body.ready).toBe(true)
    expect(body.checks.jwks?.ok).toBe(true)
  })

  it('/readyz is 503 while OPA cannot be reached', async () => {
    const dead = await startServer(() => new Response('x'))
    const url = dead.url
    await dead.close()
    const { gateway } = gatewayFrom(jwtMode('--opa-url', url), { fetch: idpFetch() })
    const ready = await call(gateway, '/readyz')
    expect(ready.status).toBe(503)
    const body = (await ready.json()) as { checks: Record<string, { ok: boolean }> }
    expect(body.checks.opa?.ok).toBe(false)
    expect(body.checks.jwks?.ok).toBe(true)
  })
})

describe('keyfob-guard when the upstream fails', () => {
  it('answers 502 JSON when the upstream is down', async () => {
    const dead = await startServer(() => new Response('x'))
    const url = dead.url
    await dead.close()
    const { gateway, lines } = gatewayFrom(['--upstream', url, '--allow-unauthenticated'])
    const res = await call(gateway, '/collections')
    expect(res.status).toBe(502)
    expect(await res.json()).toEqual({
      error: 'bad_gateway',
      error_description: 'the upstream could not be reached',
    })
    expect(lines()[0]).toMatchObject({ status: 502, upstream: 'unreachable' })
  })

  it('answers 504 JSON when the upstream sends no headers in time, garbage collections in between', async () => {
    const held = await startHeldUpstream()
    try {
      const { gateway, lines } = gatewayFrom([
        '--upstream',
        held.url,
        '--allow-unauthenticated',
        '--upstream-timeout-ms',
        '100',
      ])
      if (process.env.CI === 'true') expect(collectGarbage()).toBe(true)
      const pending = call(gateway, '/held')
      await held.arrived
      // The timeout must survive collections while the request waits (Node 20 lost timeouts
      // combined with AbortSignal.any after a GC: nodejs/node#57736).
      for (let i = 0; i < 5; i++) {
        collectGarbage()
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      const res = await pending
      expect(res.status).toBe(504)
      expect(await res.json()).toEqual({
        error: 'upstream_timeout',
        error_description: 'the upstream sent no response within 100 ms',
      })
      expect(lines()[0]).toMatchObject({ status: 504, upstream: 'timeout' })
    } finally {
      await held.close()
    }
  }, 10_000)

  it('streams a request body upstream', async () => {
    const { gateway } = gatewayFrom(['--upstream', upstream.url, '--allow-unauthenticated'])
    const size = 3 * 1024 * 1024
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= size) return controller.close()
        sent += 65536
        controller.enqueue(new Uint8Array(65536))
      },
    })
    const res = await call(gateway, '/upload', { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(await res.json()).toEqual({ received: size })
  })
})
