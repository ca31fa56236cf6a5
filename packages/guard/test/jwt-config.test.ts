/** jwtAuth configuration: secure defaults, explicit waivers, typed startup errors, typed claims. */
import type { MockIdp } from '@keyfob/mock-idp'
import { Hono } from 'hono'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  type GuardEnv,
  GuardError,
  type GuardErrorCode,
  type JwtAuthOptions,
  jwtAuth,
  protectedResourceMetadata,
} from '../src/index.ts'
import {
  AUDIENCE,
  accessToken,
  b64url,
  payloadOf,
  protectedApp,
  recorder,
  signed,
  testIdp,
  withToken,
} from './helpers.ts'

let idp: MockIdp
beforeAll(async () => {
  idp = await testIdp()
})

function codeOf(options: JwtAuthOptions): GuardErrorCode | 'none' {
  try {
    jwtAuth(options)
    return 'none'
  } catch (error) {
    if (error instanceof GuardError) return error.code
    throw error
  }
}

const base = (): JwtAuthOptions => ({
  jwksUrl: `${idp.issuer}/jwks`,
  issuer: idp.issuer,
  audience: AUDIENCE,
  fetch: idp.fetch,
})

describe('jwtAuth configuration', () => {
  it('iss and aud are required unless waived by name; a value plus its waiver conflicts', () => {
    expect(codeOf({ jwksUrl: 'https://idp.example/jwks', audience: AUDIENCE })).toBe('ERR_MISSING_OPTION')
    expect(codeOf({ jwksUrl: 'https://idp.example/jwks', issuer: 'https://idp.example' })).toBe(
      'ERR_MISSING_OPTION',
    )
    expect(codeOf({ jwksUrl: 'https://idp.example/jwks', waive: ['iss', 'aud'] })).toBe('none')
    expect(codeOf({ ...base(), waive: ['aud'] })).toBe('ERR_CONFLICTING_OPTIONS')
    expect(codeOf({ ...base(), waive: ['iss'] })).toBe('ERR_CONFLICTING_OPTIONS')
    expect(codeOf({ ...base(), waive: ['nbf' as never] })).toBe('ERR_INVALID_OPTION')
  })

  it('needs one key source', () => {
    expect(codeOf({ issuer: ['https://a.example', 'https://b.example'], audience: AUDIENCE })).toBe(
      'ERR_MISSING_OPTION',
    )
    expect(codeOf({ waive: ['iss'], audience: AUDIENCE })).toBe('ERR_MISSING_OPTION')
    expect(codeOf({ ...base(), keys: { keys: idp.control.keys.list().map((k) => k.publicJwk) } })).toBe(
      'ERR_CONFLICTING_OPTIONS',
    )
  })

  it('never enables none or HS*, and rejects unknown algorithms', () => {
    for (const alg of ['none', 'NONE', 'HS256', 'HS512', 'RS1', '']) {
      expect(codeOf({ ...base(), algorithms: [alg as never] })).toBe('ERR_INVALID_OPTION')
    }
    expect(codeOf({ ...base(), algorithms: [] })).toBe('ERR_INVALID_OPTION')
    expect(codeOf({ ...base(), algorithms: ['ES256', 'EdDSA'] })).toBe('none')
  })

  it('accepts only public, asymmetric keys in `keys`', () => {
    const jwk = idp.control.keys.list()[0]?.publicJwk ?? {}
    expect(codeOf({ issuer: idp.issuer, audience: AUDIENCE, keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).toBe(
      'ERR_INVALID_OPTION',
    )
    expect(codeOf({ issuer: idp.issuer, audience: AUDIENCE, keys: [{ ...jwk, d: 'private' }] })).toBe(
      'ERR_INVALID_OPTION',
    )
    expect(codeOf({ issuer: idp.issuer, audience: AUDIENCE, keys: [] })).toBe('ERR_INVALID_OPTION')
    expect(codeOf({ issuer: idp.issuer, audience: AUDIENCE, keys: [jwk] })).toBe('none')
  })

  it('refuses plain http off loopback unless allowed, and bad numbers', () => {
    expect(codeOf({ ...base(), jwksUrl: 'http://idp.internal/jwks' })).toBe('ERR_INSECURE_URL')
    expect(codeOf({ ...base(), jwksUrl: 'http://idp.internal/jwks', allowHttp: true })).toBe('none')
    expect(codeOf({ ...base(), jwksUrl: 'http://127.0.0.1:8080/jwks' })).toBe('none')
    expect(codeOf({ ...base(), jwksUrl: 'ftp://idp.example/jwks' })).toBe('ERR_INVALID_OPTION')
    expect(codeOf({ ...base(), jwks: { timeoutMs: 0 } })).toBe('ERR_INVALID_OPTION')
    expect(codeOf({ ...base(), jwks: { cooldownMs: -1 } })).toBe('ERR_INVALID_OPTION')
    expect(codeOf({ ...base(), clockTolerance: Number.NaN })).toBe('ERR_INVALID_OPTION')
    expect(codeOf({ ...base(), maxTokenLength: 1.5 })).toBe('ERR_INVALID_OPTION')
  })

  it('waive: ["exp"] accepts a token without exp but still enforces an exp that is present', async () => {
    const app = protectedApp(jwtAuth({ ...base(), waive: ['exp'] }))
    expect((await withToken(app, await signed(idp, { exp: undefined }))).status).toBe(200)
    const now = Math.floor(Date.now() / 1000)
    expect((await withToken(app, await signed(idp, { exp: now - 3600 }))).status).toBe(401)
  })

  it('waive: ["aud"] accepts any audience', async () => {
    const app = protectedApp(
      jwtAuth({ jwksUrl: `${idp.issuer}/jwks`, issuer: idp.issuer, waive: ['aud'], fetch: idp.fetch }),
    )
    expect((await withToken(app, await signed(idp, { aud: 'https://anything.example' }))).status).toBe(200)
  })

  it('a 30 s clock tolerance by default; configurable', async () => {
    const now = Math.floor(Date.now() / 1000)
    const justExpired = await signed(idp, { exp: now - 10 })
    expect((await withToken(protectedApp(jwtAuth(base())), justExpired)).status).toBe(200)
    expect(
      (await withToken(protectedApp(jwtAuth({ ...base(), clockTolerance: 0 })), justExpired)).status,
    ).toBe(401)
  })

  it('follows an injected clock (e.g. the mock IdP’s)', async () => {
    const token = await accessToken(idp)
    const app = protectedApp(jwtAuth({ ...base(), now: () => Date.now() + 2 * 3600 * 1000 }))
    expect((await withToken(app, token)).status).toBe(401)
  })

  it('typ: lax takes at+jwt, JWT and none; typ: at+jwt takes only RFC 9068 tokens', async () => {
    const lax = protectedApp(jwtAuth(base()))
    const strict = protectedApp(jwtAuth({ ...base(), typ: 'at+jwt' }))
    const at = await signed(idp, {}, 'at+jwt')
    const plain = await signed(idp, {}, 'JWT')
    for (const t of [at, plain]) expect((await withToken(lax, t)).status).toBe(200)
    expect((await withToken(strict, at)).status).toBe(200)
    expect((await withToken(strict, plain)).status).toBe(401)
  })

  it('requiredClaims and maxTokenAge add checks', async () => {
    const app = protectedApp(jwtAuth({ ...base(), requiredClaims: ['jti'], maxTokenAge: 60 }))
    const now = Math.floor(Date.now() / 1000)
    expect((await withToken(app, await signed(idp, { jti: 'x' }))).status).toBe(200)
    expect((await withToken(app, await signed(idp))).status).toBe(401)
    expect((await withToken(app, await signed(idp, { jti: 'x', iat: now - 600 }))).status).toBe(401)
  })

  it('refuses an iat beyond the clock tolerance in the future, without maxTokenAge', async () => {
    const log = recorder()
    const app = protectedApp(jwtAuth({ ...base(), onEvent: log.onEvent }))
    const now = Math.floor(Date.now() / 1000)
    expect((await withToken(app, await signed(idp, { iat: now + 10 }))).status).toBe(200)
    const future = await withToken(app, await signed(idp, { iat: now + 600 }))
    expect(future.status).toBe(401)
    expect((await future.json()).error_description).toBe('the access token is not valid yet')
    expect(log.events.map((e) => e.reason)).toEqual(['ok', 'not_yet_valid'])
    const strict = protectedApp(jwtAuth({ ...base(), clockTolerance: 0 }))
    expect((await withToken(strict, await signed(idp, { iat: now + 120 }))).status).toBe(401)
  })

  it('a cached token answers only for itself: another token ending in the same signature is verified (and refused)', async () => {
    const log = recorder()
    const app = protectedApp(jwtAuth({ ...base(), cache: { ttlMs: 600_000 }, onEvent: log.onEvent }))
    const genuine = await accessToken(idp, { scope: 'read' })
    expect((await withToken(app, genuine)).status).toBe(200)
    // The cache files tokens under their last characters: the genuine signature on other claims
    // lands on the same entry and must still be verified.
    const [header, , signature] = genuine.split('.')
    const forged = `${header}.${b64url(JSON.stringify({ ...payloadOf(genuine), scope: 'admin' }))}.${signature}`
    expect(forged.slice(-64)).toBe(genuine.slice(-64))
    const refused = await withToken(app, forged)
    expect(refused.status).toBe(401)
    expect((await withToken(app, genuine)).status).toBe(200)
    expect(log.events.map((e) => e.reason)).toEqual(['ok', 'bad_signature', 'ok'])
  })

  it('forgets a cached token once a refetched JWKS no longer holds its kid', async () => {
    const rotating = await testIdp()
    const log = recorder()
    const app = protectedApp(
      jwtAuth({
        jwksUrl: `${rotating.issuer}/jwks`,
        issuer: rotating.issuer,
        audience: AUDIENCE,
        fetch: rotating.fetch,
        jwks: { cooldownMs: 0 },
        cache: { ttlMs: 600_000 },
        onEvent: log.onEvent,
      }),
    )
    const old = await accessToken(rotating)
    expect((await withToken(app, old)).status).toBe(200)
    expect((await withToken(app, old)).status).toBe(200)
    await rotating.control.keys.rotate({ graceMs: 0, alg: 'ES256' })
    // A token with the new kid makes jose refetch the JWKS, which no longer has the old key.
    expect((await withToken(app, await accessToken(rotating))).status).toBe(200)
    const refused = await withToken(app, old)
    expect(refused.status).toBe(401)
    expect(log.events.map((e) => e.reason)).toEqual(['ok', 'ok', 'ok', 'unknown_kid'])
  })

  it('RFC 9728: the well-known path derives from the resource, and challenges carry resource_metadata', async () => {
    const metadata = protectedResourceMetadata({
      resource: 'https://api.example/geoapi',
      authorizationServers: [idp.issuer],
      scopesSupported: ['read'],
    })
    expect(metadata.path).toBe('/.well-known/oauth-protected-resource/geoapi')
    expect(metadata.url).toBe('https://api.example/.well-known/oauth-protected-resource/geoapi')
    expect(metadata.document).toEqual({
      resource: 'https://api.example/geoapi',
      authorization_servers: [idp.issuer],
      bearer_methods_supported: ['header'],
      scopes_supported: ['read'],
    })
    expect(
      protectedResourceMetadata({ resource: 'https://api.example', authorizationServers: ['x'] }).path,
    ).toBe('/.well-known/oauth-protected-resource')
    const app = new Hono<GuardEnv>()
    app.get(metadata.path, metadata.handler)
    app.use('/geoapi/*', jwtAuth({ ...base(), resourceMetadata: metadata.url }))
    app.get('/geoapi/x', (c) => c.text('ok'))
    const missing = await app.request('https://api.example/geoapi/x')
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe(
      'Bearer resource_metadata="https://api.example/.well-known/oauth-protected-resource/geoapi"',
    )
    const served = await app.request(`https://api.example${metadata.path}`)
    expect(await served.json()).toEqual(metadata.document)
    let error: unknown
    try {
      protectedResourceMetadata({ resource: 'https://api.example/x?y=1', authorizationServers: ['x'] })
    } catch (e) {
      error = e
    }
    expect((error as GuardError).code).toBe('ERR_INVALID_OPTION')
  })

  it('names each middleware after its factory, as Hono does', () => {
    expect(jwtAuth(base()).name).toBe('jwtAuth')
  })

  it('accepts one of several issuers', async () => {
    const app = protectedApp(jwtAuth({ ...base(), issuer: ['https://old-issuer.example', idp.issuer] }))
    expect((await withToken(app, await accessToken(idp))).status).toBe(200)
  })

  it('types verified claims on c.var.auth', async () => {
    interface MyClaims extends Record<string, unknown> {
      company: string
    }
    const app = new Hono<GuardEnv<MyClaims>>()
    app.use('*', jwtAuth<MyClaims>(base()))
    app.get('/', (c) => {
      const company: string = c.var.auth.claims.company
      const sub: string | undefined = c.var.auth.claims.sub
      const scopes: readonly string[] = c.var.auth.scopes
      return c.json({ company, sub, scopes })
    })
    const response = await withToken(app as never, await signed(idp, { company: 'acme' }), '/')
    expect(await response.json()).toEqual({ company: 'acme', sub: 'alice', scopes: ['read'] })
  })

  it('remembers verified tokens: a reused token skips verification until min(exp, ttl); claims are frozen', async () => {
    let nowMs = Date.now()
    // With a zero JWKS max age, every real verification fetches the JWKS: the journal counts them.
    const app = protectedApp(
      jwtAuth({
        ...base(),
        now: () => nowMs,
        jwks: { cacheMaxAgeMs: 0, cooldownMs: 0 },
        cache: { ttlMs: 60_000 },
      }),
    )
    const fetches = () => idp.control.journal.entries({ endpoint: 'jwks' }).length
    idp.control.journal.clear()
    const token = await signed(idp, { exp: Math.floor(nowMs / 1000) + 100 })
    expect((await withToken(app, token)).status).toBe(200)
    expect(fetches()).toBe(1)
    for (let i = 0; i < 5; i++) expect((await withToken(app, token)).status).toBe(200)
    expect(fetches()).toBe(1)
    nowMs += 61_000
    expect((await withToken(app, token)).status).toBe(200)
    expect(fetches()).toBe(2)
    // Past exp (and the 30 s tolerance) the cache does not answer: the token is re-verified and refused.
    nowMs += 70_000
    const expired = await withToken(app, token)
    expect(expired.status).toBe(401)
    expect((await expired.json()).error_description).toBe('the access token expired')

    const frozen = protectedApp(jwtAuth(base()))
    const mutate = new Hono<GuardEnv>()
    mutate.use('*', jwtAuth(base()))
    mutate.get('/', (c) =>
      c.json({ frozen: Object.isFrozen(c.var.auth) && Object.isFrozen(c.var.auth.claims) }),
    )
    const fresh = await signed(idp)
    expect((await withToken(frozen, fresh)).status).toBe(200)
    expect(await (await withToken(mutate as never, fresh, '/')).json()).toEqual({ frozen: true })
  })

  it('cache: false verifies every time; a bad cache option is a startup error', async () => {
    const app = protectedApp(jwtAuth({ ...base(), jwks: { cacheMaxAgeMs: 0, cooldownMs: 0 }, cache: false }))
    idp.control.journal.clear()
    const token = await signed(idp)
    for (let i = 0; i < 3; i++) expect((await withToken(app, token)).status).toBe(200)
    expect(idp.control.journal.entries({ endpoint: 'jwks' }).length).toBe(3)
    expect(codeOf({ ...base(), cache: { maxEntries: 0 } })).toBe('ERR_INVALID_OPTION')
  })

  it('a throwing onEvent hook does not break the request', async () => {
    const app = protectedApp(
      jwtAuth({
        ...base(),
        onEvent: () => {
          throw new Error('logger down')
        },
      }),
    )
    expect((await withToken(app, await accessToken(idp))).status).toBe(200)
    expect((await withToken(app, 'x.y.z')).status).toBe(401)
  })

  it('events carry who and why, never the token', async () => {
    const log = recorder()
    const app = protectedApp(jwtAuth({ ...base(), onEvent: log.onEvent }))
    const token = await accessToken(idp, { sub: 'alice' })
    await withToken(app, token, '/collections/obs')
    expect(log.events[0]).toMatchObject({
      outcome: 'allow',
      reason: 'ok',
      source: 'jwtAuth',
      method: 'GET',
      path: '/collections/obs',
      subject: 'alice',
      issuer: idp.issuer,
    })
    expect(typeof log.events[0]?.kid).toBe('string')
    expect(JSON.stringify(log.events)).not.toContain(token)
  })
})
