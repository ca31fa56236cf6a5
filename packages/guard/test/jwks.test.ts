/** JWKS behaviour against the mock IdP's journal: fetched once, cooldown, rotation, outages, discovery. */
import { type MockIdp, serve } from '@keyfob/mock-idp'
import { describe, expect, it } from 'vitest'
import { type JwtAuthOptions, jwtAuth } from '../src/index.ts'
import {
  AUDIENCE,
  accessToken,
  jwksFetches,
  protectedApp,
  recorder,
  SERVICE,
  signed,
  sleep,
  testIdp,
  withToken,
} from './helpers.ts'

/** jwtAuth against the IdP's JWKS URL (in-process fetch), without the verified-token cache. */
function jwksAuth(idp: MockIdp, extra: Partial<JwtAuthOptions> = {}) {
  return jwtAuth({
    jwksUrl: `${idp.issuer}/jwks`,
    issuer: idp.issuer,
    audience: AUDIENCE,
    fetch: idp.fetch,
    cache: false,
    ...extra,
  })
}

describe('jwtAuth and the JWKS', () => {
  it('fetches the JWKS once for many requests, sequential and concurrent', async () => {
    const idp = await testIdp()
    const app = protectedApp(jwksAuth(idp))
    const tokens = await Promise.all(
      Array.from({ length: 5 }, (_, i) => accessToken(idp, { scope: i % 2 ? 'read' : 'write' })),
    )
    const first = await Promise.all(tokens.map((t) => withToken(app, t)))
    expect(first.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    for (let i = 0; i < 40; i++) expect((await withToken(app, tokens[i % 5] as string)).status).toBe(200)
    expect(jwksFetches(idp)).toBe(1)
  })

  it('keeps verifying with cached keys through a JWKS outage', async () => {
    const idp = await testIdp()
    const app = protectedApp(jwksAuth(idp))
    expect((await withToken(app, await accessToken(idp))).status).toBe(200)
    idp.control.faults.inject({ endpoint: 'jwks', drop: true, times: Number.POSITIVE_INFINITY })
    for (let i = 0; i < 10; i++) expect((await withToken(app, await accessToken(idp))).status).toBe(200)
    expect(jwksFetches(idp)).toBe(1)
  })

  it('falls back to the last good key set when a due refetch fails (stale-if-error), trying again only after the cooldown', async () => {
    const idp = await testIdp()
    const log = recorder()
    const app = protectedApp(
      jwksAuth(idp, {
        // Every request finds the cache stale, so every request would refetch.
        jwks: { cacheMaxAgeMs: 0, cooldownMs: 60_000 },
        onEvent: log.onEvent,
      }),
    )
    expect((await withToken(app, await accessToken(idp))).status).toBe(200)
    idp.control.faults.inject({
      endpoint: 'jwks',
      status: 500,
      error: 'server_error',
      times: Number.POSITIVE_INFINITY,
    })
    for (let i = 0; i < 5; i++) expect((await withToken(app, await accessToken(idp))).status).toBe(200)
    const entries = idp.control.journal.entries({ endpoint: 'jwks' })
    // One good fetch, one failed attempt; the failure opened the circuit for the cooldown.
    expect(entries.map((e) => e.status)).toEqual([200, 500])
    expect(log.events.every((e) => e.outcome === 'allow')).toBe(true)
  })

  it('answers 503 (not 401, not 500) when the JWKS is down and nothing is cached', async () => {
    const idp = await testIdp()
    const log = recorder()
    const app = protectedApp(
      jwksAuth(idp, {
        jwks: { cooldownMs: 0 },
        onEvent: log.onEvent,
      }),
    )
    const token = await accessToken(idp)
    for (const rule of [
      { endpoint: 'jwks', drop: true },
      { endpoint: 'jwks', status: 500, error: 'server_error' },
      { endpoint: 'jwks', status: 302, body: 'moved' },
      { endpoint: 'jwks', malformedJson: true },
      { endpoint: 'jwks', body: '{"keys": "nope"}', contentType: 'application/json', status: 200 },
    ] as const) {
      idp.control.faults.inject(rule)
      const response = await withToken(app, token)
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBe('5')
      expect(response.headers.get('www-authenticate')).toBeNull()
      const body = await response.json()
      expect(body.error).toBe('temporarily_unavailable')
      expect(JSON.stringify(body)).not.toContain(token)
      expect(log.events[log.events.length - 1]?.reason).toBe('jwks_unavailable')
      expect(log.events[log.events.length - 1]?.dependency).toBe('jwks')
    }
    // And it recovers as soon as the IdP does.
    expect((await withToken(app, token)).status).toBe(200)
  })

  it('times out a hanging JWKS endpoint and answers 503', async () => {
    const idp = await testIdp()
    const app = protectedApp(
      jwksAuth(idp, {
        jwks: { timeoutMs: 50 },
      }),
    )
    idp.control.faults.inject({ endpoint: 'jwks', delayMs: 400 })
    const response = await withToken(app, await accessToken(idp))
    expect(response.status).toBe(503)
    await sleep(450)
  })

  it('an unknown kid triggers at most one refetch per cooldown, even under a flood of random kids', async () => {
    const idp = await testIdp()
    const attacker = await testIdp({ keys: 'generate', signingAlg: 'ES256' })
    const app = protectedApp(jwksAuth(idp))
    const forged: string[] = []
    for (let i = 0; i < 25; i++) {
      await attacker.control.keys.rotate({ alg: 'ES256' })
      forged.push(await signed(attacker, { iss: idp.issuer }))
    }
    expect(
      new Set(
        forged.map(
          (t) => JSON.parse(atob((t.split('.')[0] as string).replace(/-/g, '+').replace(/_/g, '/'))).kid,
        ),
      ).size,
    ).toBe(25)
    const concurrent = await Promise.all(forged.slice(0, 10).map((t) => withToken(app, t)))
    expect(concurrent.every((r) => r.status === 401)).toBe(true)
    for (const t of forged.slice(10)) expect((await withToken(app, t)).status).toBe(401)
    expect(jwksFetches(idp)).toBe(1)
    // The genuine key still works, from the cache.
    expect((await withToken(app, await accessToken(idp))).status).toBe(200)
    expect(jwksFetches(idp)).toBe(1)
  })

  it('follows a key rotation: a new kid after the cooldown refetches once; the old key works during its grace period', async () => {
    const idp = await testIdp()
    // The assertion "inside the cooldown" needs the rotation to take less than this on a loaded
    // CI machine: an EC key (fast to generate) and a cooldown with room to spare.
    const cooldownMs = 3000
    const app = protectedApp(
      jwksAuth(idp, {
        jwks: { cooldownMs },
      }),
    )
    const oldToken = await accessToken(idp)
    expect((await withToken(app, oldToken)).status).toBe(200)
    expect(jwksFetches(idp)).toBe(1)
    await idp.control.keys.rotate({ graceMs: 3_600_000, alg: 'ES256' })
    const newToken = await accessToken(idp)
    expect(newToken.split('.')[0]).not.toBe(oldToken.split('.')[0])
    // Inside the cooldown, the new kid is not worth a refetch yet.
    expect((await withToken(app, newToken)).status).toBe(401)
    expect(jwksFetches(idp)).toBe(1)
    await sleep(cooldownMs + 100)
    const results = await Promise.all([newToken, newToken, newToken].map((t) => withToken(app, t)))
    expect(results.map((r) => r.status)).toEqual([200, 200, 200])
    expect(jwksFetches(idp)).toBe(2)
    expect((await withToken(app, oldToken)).status).toBe(200)
    expect(jwksFetches(idp)).toBe(2)
  })

  it('discovers the JWKS from the issuer once, and fails closed with 503 while discovery is down', async () => {
    const idp = await testIdp()
    const log = recorder()
    const app = protectedApp(
      jwtAuth({
        issuer: idp.issuer,
        audience: AUDIENCE,
        fetch: idp.fetch,
        cache: false,
        jwks: { cooldownMs: 0 },
        onEvent: log.onEvent,
      }),
    )
    idp.control.faults.inject({ endpoint: 'discovery', status: 502, body: '<h1>502</h1>' })
    const token = await accessToken(idp)
    const down = await withToken(app, token)
    expect(down.status).toBe(503)
    expect(log.events[log.events.length - 1]?.reason).toBe('discovery_unavailable')
    for (let i = 0; i < 10; i++) expect((await withToken(app, token)).status).toBe(200)
    const discovery = idp.control.journal.entries({ endpoint: 'discovery' })
    expect(discovery.map((e) => e.status)).toEqual([502, 200])
    expect(jwksFetches(idp)).toBe(1)
  })

  it('refuses a discovery document that names another issuer (503, no keys used)', async () => {
    const idp = await testIdp()
    const app = protectedApp(
      jwtAuth({ issuer: `${idp.issuer}/`, audience: AUDIENCE, fetch: idp.fetch, cache: false }),
    )
    const response = await withToken(app, await signed(idp, { iss: `${idp.issuer}/` }))
    expect(response.status).toBe(503)
    expect(jwksFetches(idp)).toBe(0)
  })

  it('verifies with configured keys and never fetches', async () => {
    const idp = await testIdp()
    const app = protectedApp(
      jwtAuth({
        keys: { keys: idp.control.keys.list().map((k) => k.publicJwk) },
        issuer: idp.issuer,
        audience: AUDIENCE,
      }),
    )
    expect((await withToken(app, await accessToken(idp))).status).toBe(200)
    expect(jwksFetches(idp)).toBe(0)
  })

  it('works end to end against the mock IdP on a real loopback socket (global fetch, plain http on 127.0.0.1)', async () => {
    const server = await serve({ clients: [SERVICE], audience: AUDIENCE })
    try {
      const app = protectedApp(jwtAuth({ issuer: server.issuer, audience: AUDIENCE }))
      const { access_token } = await server.idp.control.tokens.issue({
        clientId: SERVICE.clientId,
        scope: 'openid',
      })
      for (let i = 0; i < 3; i++) expect((await withToken(app, access_token)).status).toBe(200)
      expect(server.idp.control.journal.entries({ endpoint: 'jwks' }).length).toBe(1)
      expect(server.idp.control.journal.entries({ endpoint: 'discovery' }).length).toBe(1)
    } finally {
      await server.close()
    }
  })
})
