/** oidcAuth: discovery-driven JWT validation and RFC 7662 introspection with a bounded cache. */
import type { MockIdp } from '@keyfob/mock-idp'
import { beforeAll, describe, expect, it } from 'vitest'
import { GuardError, type OidcAuthOptions, oidcAuth } from '../src/index.ts'
import {
  AUDIENCE,
  accessToken,
  get,
  jwksFetches,
  protectedApp,
  RESOURCE_SERVER,
  recorder,
  SERVICE,
  testIdp,
  withToken,
} from './helpers.ts'

const OPAQUE = {
  clientId: 'opaque-svc',
  clientSecret: 'opaque-secret-value',
  accessTokenFormat: 'opaque' as const,
}
let idp: MockIdp

beforeAll(async () => {
  idp = await testIdp({ clients: [SERVICE, RESOURCE_SERVER, OPAQUE] })
})

function opaqueToken(options: { scope?: string; sub?: string; audience?: string } = {}): Promise<string> {
  return idp.control.tokens
    .issue({
      clientId: OPAQUE.clientId,
      scope: options.scope ?? 'read',
      ...(options.sub !== undefined ? { sub: options.sub } : {}),
      ...(options.audience !== undefined ? { audience: options.audience } : {}),
    })
    .then((t) => t.access_token)
}

const introspections = (): number => idp.control.journal.entries({ endpoint: 'introspection' }).length

function app(
  options: Partial<OidcAuthOptions> = {},
  introspection: Partial<NonNullable<OidcAuthOptions['introspection']>> = {},
) {
  return protectedApp(
    oidcAuth({
      issuer: idp.issuer,
      audience: AUDIENCE,
      fetch: idp.fetch,
      introspection: { ...RESOURCE_SERVER, ...introspection },
      ...options,
    }),
  )
}

describe('oidcAuth', () => {
  it('validates JWT access tokens locally with the discovered JWKS (no introspection call)', async () => {
    idp.control.journal.clear()
    const protectedApi = app()
    const response = await withToken(protectedApi, await accessToken(idp, { scope: 'read write' }))
    expect(response.status).toBe(200)
    const { auth } = await response.json()
    expect(auth.scheme).toBe('jwt')
    expect(auth.scopes).toEqual(['read', 'write'])
    expect(introspections()).toBe(0)
    expect(jwksFetches(idp)).toBe(1)
  })

  it('introspects opaque tokens, and caches the answer by token hash', async () => {
    idp.control.journal.clear()
    const protectedApi = app()
    const token = await opaqueToken({ scope: 'read features:write', sub: 'alice' })
    expect(token.split('.').length).toBe(1)
    const first = await withToken(protectedApi, token)
    expect(first.status).toBe(200)
    const { auth } = await first.json()
    expect(auth).toMatchObject({
      scheme: 'introspection',
      subject: 'alice',
      issuer: idp.issuer,
      audience: [AUDIENCE],
      scopes: ['read', 'features:write'],
      clientId: OPAQUE.clientId,
    })
    expect(auth.claims.active).toBeUndefined()
    const more = await Promise.all(Array.from({ length: 10 }, () => withToken(protectedApi, token)))
    expect(more.every((r) => r.status === 200)).toBe(true)
    expect(introspections()).toBe(1)
    const entry = idp.control.journal.entries({ endpoint: 'introspection' })[0]
    expect(entry?.clientId).toBe(RESOURCE_SERVER.clientId)
    expect(entry?.status).toBe(200)
  })

  it('concurrent requests with one new token share one introspection call', async () => {
    idp.control.journal.clear()
    const protectedApi = app()
    const token = await opaqueToken()
    const responses = await Promise.all(Array.from({ length: 8 }, () => withToken(protectedApi, token)))
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200))
    expect(introspections()).toBe(1)
  })

  it('the cache is bounded (least recently used dropped) and expires after cacheTtlMs', async () => {
    idp.control.journal.clear()
    let nowMs = Date.now()
    const protectedApi = app({ now: () => nowMs }, { cacheMaxEntries: 2, cacheTtlMs: 60_000 })
    const [a, b, c] = await Promise.all([opaqueToken(), opaqueToken(), opaqueToken()])
    for (const t of [a, b, a, c] as string[]) expect((await withToken(protectedApi, t)).status).toBe(200)
    expect(introspections()).toBe(3)
    // b was least recently used when c arrived: it is gone; a and c are still cached.
    expect((await withToken(protectedApi, a as string)).status).toBe(200)
    expect((await withToken(protectedApi, c as string)).status).toBe(200)
    expect(introspections()).toBe(3)
    expect((await withToken(protectedApi, b as string)).status).toBe(200)
    expect(introspections()).toBe(4)
    nowMs += 61_000
    expect((await withToken(protectedApi, b as string)).status).toBe(200)
    expect(introspections()).toBe(5)
  })

  it('a revoked token is refused once its cache entry expires', async () => {
    let nowMs = Date.now()
    const protectedApi = app({ now: () => nowMs }, { cacheTtlMs: 1000 })
    const token = await opaqueToken()
    expect((await withToken(protectedApi, token)).status).toBe(200)
    const revoke = await idp.fetch(`${idp.issuer}/revoke`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${btoa(`${OPAQUE.clientId}:${OPAQUE.clientSecret}`)}`,
      },
      body: new URLSearchParams({ token }).toString(),
    })
    expect(revoke.status).toBe(200)
    expect((await withToken(protectedApi, token)).status).toBe(200)
    nowMs += 1500
    const refused = await withToken(protectedApi, token)
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"')
  })

  it('refuses unknown tokens, refresh tokens, and tokens for another audience (401 invalid_token)', async () => {
    const log = recorder()
    const protectedApi = app({ onEvent: log.onEvent })
    const { refresh_token } = await idp.control.tokens.issue({
      clientId: SERVICE.clientId,
      sub: 'alice',
      scope: 'read',
      refresh: true,
    })
    for (const token of [
      'definitely-not-a-token',
      refresh_token as string,
      await opaqueToken({ audience: 'https://other.example' }),
    ]) {
      const response = await withToken(protectedApi, token)
      expect(response.status).toBe(401)
      expect((await response.json()).error).toBe('invalid_token')
    }
    expect(log.events.map((e) => e.reason)).toEqual(['inactive', 'inactive', 'bad_aud'])
  })

  it('client_secret_post works too', async () => {
    const protectedApi = app({}, { authMethod: 'client_secret_post' })
    expect((await withToken(protectedApi, await opaqueToken())).status).toBe(200)
  })

  it('introspection down: 503 when nothing cached decides, the cached answer when something does', async () => {
    const log = recorder()
    const protectedApi = app({ onEvent: log.onEvent })
    const cached = await opaqueToken()
    expect((await withToken(protectedApi, cached)).status).toBe(200)
    idp.control.faults.inject({ endpoint: 'introspection', drop: true, times: 2 })
    expect((await withToken(protectedApi, cached)).status).toBe(200)
    const fresh = await opaqueToken()
    const response = await withToken(protectedApi, fresh)
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('5')
    expect(log.events[log.events.length - 1]?.reason).toBe('introspection_unavailable')
    // Failures are not cached: the next call recovers.
    idp.control.faults.clear()
    expect((await withToken(protectedApi, fresh)).status).toBe(200)
  })

  it('a wrong introspection secret is a 503 whose diagnostic says what to check, never the secret', async () => {
    const log = recorder()
    const protectedApi = app({ onEvent: log.onEvent }, { clientSecret: 'wrong-secret-value' })
    const token = await opaqueToken()
    const response = await withToken(protectedApi, token)
    expect(response.status).toBe(503)
    const event = log.events[log.events.length - 1]
    expect(event?.detail).toContain('clientSecret')
    const everything = JSON.stringify({ events: log.events, body: await response.text() })
    expect(everything).not.toContain('wrong-secret-value')
    expect(everything).not.toContain(token)
  })

  it('without introspection, an opaque token is 401 invalid_token', async () => {
    const protectedApi = protectedApp(oidcAuth({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch }))
    const response = await withToken(protectedApi, await opaqueToken())
    expect(response.status).toBe(401)
    expect((await response.json()).error).toBe('invalid_token')
    expect((await withToken(protectedApi, await accessToken(idp))).status).toBe(200)
  })

  it('introspectJwts: true checks JWTs with the IdP too (sees revocations)', async () => {
    idp.control.journal.clear()
    const protectedApi = app({}, { introspectJwts: true })
    const response = await withToken(protectedApi, await accessToken(idp))
    expect(response.status).toBe(200)
    expect((await response.json()).auth.scheme).toBe('introspection')
    expect(introspections()).toBe(1)
  })

  it('answers a missing token with a bare challenge', async () => {
    const response = await get(app({ realm: 'geoapi' }), '/collections')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="geoapi"')
  })

  it('refuses incomplete configuration at startup', () => {
    const codes = [
      () => oidcAuth({ audience: AUDIENCE } as never),
      () => oidcAuth({ issuer: idp.issuer }),
      () =>
        oidcAuth({
          issuer: idp.issuer,
          audience: AUDIENCE,
          introspection: { clientId: 'api', clientSecret: '' },
        }),
      () => oidcAuth({ issuer: idp.issuer, audience: AUDIENCE, waive: ['iss'] }),
      () => oidcAuth({ issuer: 'http://idp.internal', audience: AUDIENCE }),
    ].map((fn) => {
      try {
        fn()
        return 'no error'
      } catch (error) {
        return error instanceof GuardError ? error.code : String(error)
      }
    })
    expect(codes).toEqual([
      'ERR_MISSING_OPTION',
      'ERR_MISSING_OPTION',
      'ERR_MISSING_OPTION',
      'ERR_CONFLICTING_OPTIONS',
      'ERR_INSECURE_URL',
    ])
  })
})
