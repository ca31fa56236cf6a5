/** DPoP (RFC 9449) at the resource server: proofs, key binding, replay, nonces, and the attack matrix. */
import type { MockIdp } from '@keyfob/mock-idp'
import fc from 'fast-check'
import { Hono } from 'hono'
import { base64url, SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  apiKeyAuth,
  DEFAULT_DPOP_ALGORITHMS,
  type DpopOptions,
  GuardError,
  type GuardReason,
  guard,
  type JwtAuthOptions,
  jwtAuth,
  oidcAuth,
  protectedResourceMetadata,
} from '../src/index.ts'
import {
  AUDIENCE,
  accessToken,
  athOf,
  b64url,
  type DpopKey,
  dpopKey,
  dpopProof,
  get,
  protectedApp,
  RESOURCE_SERVER,
  recorder,
  SERVICE,
  signed,
  testIdp,
} from './helpers.ts'

const URL_ = 'http://api.example/collections'
const ALGS = `algs="${DEFAULT_DPOP_ALGORITHMS.join(' ')}"`
const OPAQUE = {
  clientId: 'opaque-svc',
  clientSecret: 'opaque-secret-value',
  accessTokenFormat: 'opaque' as const,
}

let idp: MockIdp
let key: DpopKey
let otherKey: DpopKey
let bound: string
let unbound: string
const log = recorder()

beforeAll(async () => {
  idp = await testIdp({ clients: [SERVICE, RESOURCE_SERVER, OPAQUE] })
  key = await dpopKey()
  otherKey = await dpopKey()
  bound = await signed(idp, { cnf: { jkt: key.jkt } })
  unbound = await signed(idp)
})

function app(dpop: DpopOptions | false = {}, more: Partial<JwtAuthOptions> = {}) {
  return protectedApp(
    jwtAuth({
      jwksUrl: `${idp.issuer}/jwks`,
      issuer: idp.issuer,
      audience: AUDIENCE,
      fetch: idp.fetch,
      onEvent: log.onEvent,
      ...(dpop !== false ? { dpop } : {}),
      ...more,
    }),
  )
}

/** A request with `Authorization: <scheme> <token>` and, when given, a `DPoP` header. */
function send(
  api: ReturnType<typeof app>,
  token: string,
  proof?: string,
  options: { scheme?: string; method?: string; path?: string; url?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = { authorization: `${options.scheme ?? 'DPoP'} ${token}` }
  if (proof !== undefined) headers.dpop = proof
  const url = options.url ?? `http://api.example${options.path ?? '/collections'}`
  return Promise.resolve(api.request(url, { method: options.method ?? 'GET', headers }))
}

function lastReason(): GuardReason | undefined {
  return log.events[log.events.length - 1]?.reason
}

/** The RFC 9449 §7.1 shape of a refusal: 401, a `DPoP` challenge first with `error` and `algs`. */
async function expectDpopError(
  response: Response,
  error: 'invalid_dpop_proof' | 'invalid_token' | 'use_dpop_nonce',
  reason: GuardReason,
  secrets: readonly string[] = [],
): Promise<void> {
  expect({ status: response.status, reason: lastReason() }).toEqual({ status: 401, reason })
  const challenge = response.headers.get('www-authenticate') ?? ''
  expect(challenge.startsWith('DPoP ')).toBe(true)
  expect(challenge).toContain(`error="${error}"`)
  expect(challenge).toContain(ALGS)
  const body = await response.json()
  expect(body.error).toBe(error)
  expect(response.headers.get('cache-control')).toBe('no-store')
  const evidence = JSON.stringify({ body, challenge, event: log.events[log.events.length - 1] })
  for (const secret of secrets) expect(evidence).not.toContain(secret)
}

describe('DPoP-bound tokens (jwtAuth with dpop)', () => {
  it('accepts a bound token with a fresh proof, and says so on c.var.auth', async () => {
    const api = app()
    const response = await send(api, bound, await dpopProof(key, { htu: URL_, token: bound }))
    expect(response.status).toBe(200)
    const { auth } = await response.json()
    expect(auth).toMatchObject({ scheme: 'jwt', subject: 'alice', dpop: { jkt: key.jkt } })
    expect(response.headers.get('dpop-nonce')).toBeNull()
  })

  it('accepts proofs made with EdDSA, PS256 and RS256 keys', async () => {
    const api = app()
    for (const alg of ['EdDSA', 'PS256', 'RS256']) {
      const k = await dpopKey(alg)
      const token = await signed(idp, { cnf: { jkt: k.jkt } })
      const response = await send(api, token, await dpopProof(k, { htu: URL_, token }))
      expect({ alg, status: response.status }).toEqual({ alg, status: 200 })
    }
  })

  it('still accepts unbound tokens as Bearer, and offers both schemes when a credential is missing', async () => {
    const api = app()
    expect((await send(api, unbound, undefined, { scheme: 'Bearer' })).status).toBe(200)
    // A stray DPoP header next to an unbound Bearer token changes nothing: the token is a bearer token.
    const stray = await dpopProof(key, { htu: URL_, token: unbound })
    expect((await send(api, unbound, stray, { scheme: 'Bearer' })).status).toBe(200)
    const missing = await get(api, '/collections')
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer, DPoP ${ALGS}`)
  })

  it('matches the scheme name case-insensitively (dpop, DPOP)', async () => {
    const api = app()
    for (const scheme of ['dpop', 'DPOP']) {
      const response = await send(api, bound, await dpopProof(key, { htu: URL_, token: bound }), { scheme })
      expect({ scheme, status: response.status }).toEqual({ scheme, status: 200 })
    }
  })

  it('compares htu without query and fragment, after RFC 3986 normalization', async () => {
    const api = app()
    const cases = [
      // the request has a query; the proof's htu does not (§4.2)
      { url: 'http://api.example/collections/a?limit=10', htu: 'http://api.example/collections/a' },
      // case of scheme and host, default port, query and fragment in the htu
      { url: 'http://api.example/collections/a', htu: 'HTTP://API.example:80/collections/a?x=1#frag' },
      // percent-encoding case and unreserved characters, dot segments
      { url: 'http://api.example/items/%7ealice/%2f', htu: 'http://api.example/x/../items/~alice/%2F' },
      // an empty path is /
      { url: 'http://api.example/', htu: 'http://api.example' },
    ]
    for (const { url, htu } of cases) {
      const response = await send(api, bound, await dpopProof(key, { htu, token: bound }), { url })
      expect({ htu, status: response.status }).toEqual({ htu, status: 200 })
    }
  })

  it('behind a proxy, compares htu with the configured public origin', async () => {
    const internal = 'http://10.0.0.5:8080/collections'
    const proof = () => dpopProof(key, { htu: 'https://api.example/collections', token: bound })
    expect((await send(app(), bound, await proof(), { url: internal })).status).toBe(401)
    expect(lastReason()).toBe('dpop_proof_mismatch')
    const proxied = app({ publicOrigin: 'https://api.example' })
    expect((await send(proxied, bound, await proof(), { url: internal })).status).toBe(200)
  })

  it('refuses Bearer altogether with required: true, offering only DPoP', async () => {
    const api = app({ required: true })
    await expectDpopError(
      await send(api, unbound, undefined, { scheme: 'Bearer' }),
      'invalid_token',
      'dpop_required',
    )
    const missing = await get(api, '/collections')
    expect(missing.headers.get('www-authenticate')).toBe(`DPoP ${ALGS}`)
    expect((await send(api, bound, await dpopProof(key, { htu: URL_, token: bound }))).status).toBe(200)
  })

  it('in guard() next to an API key: every scheme is offered, and a DPoP refusal leads with DPoP', async () => {
    const combined = protectedApp(
      guard({
        schemes: [
          jwtAuth({
            jwksUrl: `${idp.issuer}/jwks`,
            issuer: idp.issuer,
            audience: AUDIENCE,
            fetch: idp.fetch,
            dpop: {},
          }),
          apiKeyAuth({ keys: ['an-api-key-of-enough-length'] }),
        ],
        combine: 'first-present',
      }),
    )
    const missing = await get(combined, '/collections')
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer, DPoP ${ALGS}, ApiKey header="X-API-KEY"`)
    const replayed = await dpopProof(key, { htu: URL_, token: bound })
    expect((await send(combined, bound, replayed)).status).toBe(200)
    const again = await send(combined, bound, replayed)
    expect(again.status).toBe(401)
    expect(again.headers.get('www-authenticate')).toMatch(
      /^DPoP algs="[^"]+", error="invalid_dpop_proof", error_description="[^"]+", Bearer, ApiKey header="X-API-KEY"$/,
    )
  })

  it('puts realm and resource_metadata on the DPoP challenge too', async () => {
    const api = app(
      {},
      { realm: 'geo', resourceMetadata: 'https://api.example/.well-known/oauth-protected-resource' },
    )
    const challenge = (await get(api, '/collections')).headers.get('www-authenticate')
    const rm = 'resource_metadata="https://api.example/.well-known/oauth-protected-resource"'
    expect(challenge).toBe(`Bearer realm="geo", ${rm}, DPoP realm="geo", ${ALGS}, ${rm}`)
  })

  it('answers a refused token (expired) on a DPoP request with the DPoP challenge', async () => {
    const expired = await signed(idp, { cnf: { jkt: key.jkt }, exp: Math.floor(Date.now() / 1000) - 3600 })
    const response = await send(app(), expired, await dpopProof(key, { htu: URL_, token: expired }))
    await expectDpopError(response, 'invalid_token', 'expired', [expired])
  })
})

describe('DPoP attack matrix', () => {
  const api = () => app()
  let shared: ReturnType<typeof app>
  beforeAll(() => {
    shared = api()
  })

  type Case = {
    name: string
    error: 'invalid_dpop_proof' | 'invalid_token'
    reason: GuardReason
    request: () => Promise<Response>
  }
  const cases: Case[] = [
    {
      name: 'a proof for another method (htm)',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_mismatch',
      request: async () =>
        send(shared, bound, await dpopProof(key, { htm: 'POST', htu: URL_, token: bound })),
    },
    {
      name: 'a proof for another URL (htu)',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_mismatch',
      request: async () =>
        send(shared, bound, await dpopProof(key, { htu: 'http://api.example/admin', token: bound })),
    },
    {
      name: 'a proof for another host',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_mismatch',
      request: async () =>
        send(shared, bound, await dpopProof(key, { htu: 'http://evil.example/collections', token: bound })),
    },
    {
      name: 'a proof for another access token (ath)',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_mismatch',
      request: async () => send(shared, bound, await dpopProof(key, { htu: URL_, token: unbound })),
    },
    {
      name: 'a proof without ath',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () => send(shared, bound, await dpopProof(key, { htu: URL_ })),
    },
    {
      name: 'a proof signed by another key (valid proof, wrong binding)',
      error: 'invalid_token',
      reason: 'dpop_key_mismatch',
      request: async () => send(shared, bound, await dpopProof(otherKey, { htu: URL_, token: bound })),
    },
    {
      name: "a proof carrying the bound key's jwk but signed by another key",
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () =>
        send(shared, bound, await dpopProof({ ...otherKey, jwk: key.jwk }, { htu: URL_, token: bound })),
    },
    {
      name: 'a stale iat (301 s old)',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_stale',
      request: async () =>
        send(
          shared,
          bound,
          await dpopProof(key, { htu: URL_, token: bound }, { iat: Math.floor(Date.now() / 1000) - 301 }),
        ),
    },
    {
      name: 'an iat from the future (120 s ahead)',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_stale',
      request: async () =>
        send(
          shared,
          bound,
          await dpopProof(key, { htu: URL_, token: bound }, { iat: Math.floor(Date.now() / 1000) + 120 }),
        ),
    },
    {
      name: 'no iat',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () =>
        send(shared, bound, await dpopProof(key, { htu: URL_, token: bound }, { iat: undefined })),
    },
    {
      name: 'no jti',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () =>
        send(shared, bound, await dpopProof(key, { htu: URL_, token: bound }, { jti: undefined })),
    },
    {
      name: 'wrong typ (JWT)',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () =>
        send(shared, bound, await dpopProof(key, { htu: URL_, token: bound }, {}, { typ: 'JWT' })),
    },
    {
      name: 'an access token as the proof (typ at+jwt, no jwk)',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () => send(shared, bound, bound),
    },
    {
      name: 'alg: none',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () => {
        const real = await dpopProof(key, { htu: URL_, token: bound })
        const [, payload] = real.split('.')
        const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk }))
        return send(shared, bound, `${header}.${payload}.`)
      },
    },
    {
      name: 'HS256 with the public key as the secret',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () => {
        const secret = new TextEncoder().encode(JSON.stringify(key.jwk))
        const proof = await new SignJWT({
          jti: crypto.randomUUID(),
          htm: 'GET',
          htu: URL_,
          iat: Math.floor(Date.now() / 1000),
          ath: await athOf(bound),
        })
          .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk })
          .sign(secret)
        return send(shared, bound, proof)
      },
    },
    {
      name: 'a private key in the jwk header',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () => {
        const { exportJWK } = await import('jose')
        const privateJwk = await exportJWK(key.privateKey)
        return send(shared, bound, await dpopProof(key, { htu: URL_, token: bound }, {}, { jwk: privateJwk }))
      },
    },
    {
      name: 'no DPoP header',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_missing',
      request: async () => send(shared, bound),
    },
    {
      name: 'two DPoP headers',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () => {
        const proof = await dpopProof(key, { htu: URL_, token: bound })
        const headers = new Headers({ authorization: `DPoP ${bound}` })
        headers.append('dpop', proof)
        headers.append('dpop', await dpopProof(key, { htu: URL_, token: bound }))
        return shared.request(URL_, { headers })
      },
    },
    {
      name: 'a DPoP header that is not a JWT',
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_invalid',
      request: async () => send(shared, bound, 'not-a-jwt'),
    },
    {
      name: 'an unbound token sent with the DPoP scheme',
      error: 'invalid_token',
      reason: 'dpop_unbound',
      request: async () => send(shared, unbound, await dpopProof(key, { htu: URL_, token: unbound })),
    },
  ]
  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      await expectDpopError(await c.request(), c.error, c.reason, [bound])
    })
  }

  it('refuses a replayed proof (same jti), also once the token is cached', async () => {
    const proof = await dpopProof(key, { htu: URL_, token: bound })
    expect((await send(shared, bound, proof)).status).toBe(200)
    await expectDpopError(await send(shared, bound, proof), 'invalid_dpop_proof', 'dpop_proof_replayed')
    // The same jti with a new signature is still a replay: ids are remembered per key.
    const jti = 'fixed-jti-value'
    const first = await dpopProof(key, { htu: URL_, token: bound }, { jti })
    expect((await send(shared, bound, first)).status).toBe(200)
    const again = await dpopProof(key, { htu: URL_, token: bound }, { jti })
    await expectDpopError(await send(shared, bound, again), 'invalid_dpop_proof', 'dpop_proof_replayed')
  })

  it('lets only one of two concurrent requests with one proof through', async () => {
    const proof = await dpopProof(key, { htu: URL_, token: bound })
    const statuses = (await Promise.all([send(shared, bound, proof), send(shared, bound, proof)])).map(
      (r) => r.status,
    )
    expect(statuses.sort()).toEqual([200, 401])
  })

  it('refuses a bound token sent as Bearer (RFC 9449 §7.2), with the Bearer challenge carrying the error', async () => {
    const response = await send(shared, bound, undefined, { scheme: 'Bearer' })
    expect(response.status).toBe(401)
    expect(lastReason()).toBe('dpop_bound_as_bearer')
    const challenge = response.headers.get('www-authenticate') ?? ''
    expect(challenge.startsWith('Bearer error="invalid_token"')).toBe(true)
    expect(challenge).toContain(`DPoP ${ALGS}`)
    // A proof alongside does not make Bearer acceptable.
    const withProof = await send(shared, bound, await dpopProof(key, { htu: URL_, token: bound }), {
      scheme: 'Bearer',
    })
    expect(withProof.status).toBe(401)
  })

  it('refuses a bound token sent as Bearer when DPoP is not configured, naming the option in the event', async () => {
    const plain = app(false)
    const response = await send(plain, bound, undefined, { scheme: 'Bearer' })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
    const event = log.events[log.events.length - 1]
    expect(event?.reason).toBe('dpop_bound_as_bearer')
    expect(event?.detail).toContain("jwtAuth's dpop option")
    // And without the option, the DPoP scheme is not read at all: no credential.
    const dpop = await send(plain, bound, await dpopProof(key, { htu: URL_, token: bound }))
    expect(dpop.status).toBe(401)
    expect(lastReason()).toBe('missing')
  })

  it('refuses proof algorithms outside dpop.algorithms', async () => {
    const api = app({ algorithms: ['ES256'] })
    const rsa = await dpopKey('RS256')
    const token = await signed(idp, { cnf: { jkt: rsa.jkt } })
    const response = await send(api, token, await dpopProof(rsa, { htu: URL_, token }))
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain('algs="ES256"')
    expect(lastReason()).toBe('dpop_proof_invalid')
  })

  it('honours dpop.maxAge and dpop.clockTolerance', async () => {
    const api = app({ maxAge: 10, clockTolerance: 0 })
    const now = Math.floor(Date.now() / 1000)
    const old = await dpopProof(key, { htu: URL_, token: bound }, { iat: now - 20 })
    expect((await send(api, bound, old)).status).toBe(401)
    const ahead = await dpopProof(key, { htu: URL_, token: bound }, { iat: now + 5 })
    expect((await send(api, bound, ahead)).status).toBe(401)
    const fresh = await dpopProof(key, { htu: URL_, token: bound }, { iat: now - 5 })
    expect((await send(api, bound, fresh)).status).toBe(200)
  })
})

describe('DPoP server nonces', () => {
  it('answers use_dpop_nonce with a DPoP-Nonce, then accepts the proof that carries it', async () => {
    const api = app({ nonce: true })
    const first = await send(api, bound, await dpopProof(key, { htu: URL_, token: bound }))
    await expectDpopError(first, 'use_dpop_nonce', 'dpop_nonce')
    const nonce = first.headers.get('dpop-nonce')
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{20,}$/)
    const retry = await send(api, bound, await dpopProof(key, { htu: URL_, token: bound }, { nonce }))
    expect(retry.status).toBe(200)
    const wrong = await send(
      api,
      bound,
      await dpopProof(key, { htu: URL_, token: bound }, { nonce: 'made-up' }),
    )
    await expectDpopError(wrong, 'use_dpop_nonce', 'dpop_nonce')
    expect(wrong.headers.get('dpop-nonce')).toBe(nonce)
  })

  it('rotates: a previous nonce still works once and brings the new one; an older one is refused', async () => {
    let nowMs = Date.UTC(2030, 0, 1)
    const iat = () => Math.floor(nowMs / 1000)
    const token = await signed(idp, { cnf: { jkt: key.jkt }, iat: iat(), exp: iat() + 3600 })
    const api = app({ nonce: { lifetime: 60 } }, { now: () => nowMs })
    const ask = await send(api, token, await dpopProof(key, { htu: URL_, token }, { iat: iat() }))
    const nonce = ask.headers.get('dpop-nonce') as string
    nowMs += 60_000
    const later = await send(api, token, await dpopProof(key, { htu: URL_, token }, { iat: iat(), nonce }))
    expect(later.status).toBe(200)
    const next = later.headers.get('dpop-nonce')
    expect(next).not.toBeNull()
    expect(next).not.toBe(nonce)
    nowMs += 60_000
    const old = await send(api, token, await dpopProof(key, { htu: URL_, token }, { iat: iat(), nonce }))
    await expectDpopError(old, 'use_dpop_nonce', 'dpop_nonce')
    const newest = old.headers.get('dpop-nonce')
    expect([nonce, next]).not.toContain(newest)
    const current = await send(
      api,
      token,
      await dpopProof(key, { htu: URL_, token }, { iat: iat(), nonce: newest }),
    )
    expect(current.status).toBe(200)
    expect(current.headers.get('dpop-nonce')).toBeNull()
  })

  it('instances sharing a secret accept each other’s nonces', async () => {
    const secret = 'a-shared-secret-of-at-least-32-characters'
    const one = app({ nonce: { secret } })
    const two = app({ nonce: { secret } })
    const ask = await send(one, bound, await dpopProof(key, { htu: URL_, token: bound }))
    const nonce = ask.headers.get('dpop-nonce')
    const response = await send(two, bound, await dpopProof(key, { htu: URL_, token: bound }, { nonce }))
    expect(response.status).toBe(200)
    const stranger = app({ nonce: true })
    const refused = await send(stranger, bound, await dpopProof(key, { htu: URL_, token: bound }, { nonce }))
    expect(refused.status).toBe(401)
  })
})

describe('DPoP with introspection (oidcAuth)', () => {
  it('binds opaque tokens through cnf.jkt in the introspection answer', async () => {
    // The IdP binds the token to the key (§6.2: `cnf.jkt` in its introspection answer).
    const { access_token: opaque, token_type } = await idp.control.tokens.issue({
      clientId: OPAQUE.clientId,
      scope: 'read',
      jkt: key.jkt,
    })
    expect({ opaque: opaque.split('.').length, token_type }).toEqual({ opaque: 1, token_type: 'DPoP' })
    const api = protectedApp(
      oidcAuth({
        issuer: idp.issuer,
        audience: AUDIENCE,
        fetch: idp.fetch,
        introspection: RESOURCE_SERVER,
        onEvent: log.onEvent,
        dpop: {},
      }),
    )
    const ok = await send(api, opaque, await dpopProof(key, { htu: URL_, token: opaque }))
    expect({ status: ok.status, reason: lastReason() }).toEqual({ status: 200, reason: 'ok' })
    expect((await ok.json()).auth).toMatchObject({ scheme: 'introspection', dpop: { jkt: key.jkt } })
    const asBearer = await send(api, opaque, undefined, { scheme: 'Bearer' })
    expect(asBearer.status).toBe(401)
    expect(lastReason()).toBe('dpop_bound_as_bearer')
    const stolen = await send(api, opaque, await dpopProof(otherKey, { htu: URL_, token: opaque }))
    await expectDpopError(stolen, 'invalid_token', 'dpop_key_mismatch', [opaque])
  })
})

describe('audience and resource indicators', () => {
  it('refuses a token minted for another resource, naming the audience this API accepts', async () => {
    const api = app(false)
    const elsewhere = await accessToken(idp, { audience: 'https://other.example/api' })
    const response = await send(api, elsewhere, undefined, { scheme: 'Bearer' })
    expect(response.status).toBe(401)
    expect(lastReason()).toBe('bad_aud')
    const body = await response.json()
    expect(body.error).toBe('invalid_token')
    expect(body.error_description).toContain(`this API accepts tokens for ${AUDIENCE}`)
    expect(body.error_description).toContain(`resource=${AUDIENCE}`)
    expect(response.headers.get('www-authenticate')).toContain(`resource=${AUDIENCE}`)
    // A token for this resource among others is accepted.
    const several = await accessToken(idp, { audience: [AUDIENCE, 'https://other.example/api'] as never })
    expect((await send(api, several, undefined, { scheme: 'Bearer' })).status).toBe(200)
  })

  it('refuses an introspected token for another resource the same way', async () => {
    const { access_token: opaque } = await idp.control.tokens.issue({
      clientId: OPAQUE.clientId,
      audience: 'https://other.example/api',
    })
    const api = protectedApp(
      oidcAuth({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch, introspection: RESOURCE_SERVER }),
    )
    const response = await send(api, opaque, undefined, { scheme: 'Bearer' })
    expect(response.status).toBe(401)
    expect((await response.json()).error_description).toContain(`this API accepts tokens for ${AUDIENCE}`)
  })
})

describe('dpop options', () => {
  const bad: [string, DpopOptions][] = [
    ['none', { algorithms: ['none' as never] }],
    ['HS256', { algorithms: ['HS256' as never] }],
    ['empty algorithms', { algorithms: [] }],
    ['negative maxAge', { maxAge: -1 }],
    ['zero replay cache', { replayCacheSize: 0 }],
    ['a path in publicOrigin', { publicOrigin: 'https://api.example/geoapi' }],
    ['a non-http publicOrigin', { publicOrigin: 'ftp://api.example' }],
    ['a short nonce secret', { nonce: { secret: 'short' } }],
    ['a zero nonce lifetime', { nonce: { lifetime: 0 } }],
    ['a non-boolean required', { required: 'yes' as never }],
  ]
  for (const [name, dpop] of bad) {
    it(`refuses ${name} at startup (ERR_INVALID_OPTION)`, () => {
      let error: unknown
      try {
        app(dpop)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(GuardError)
      expect((error as GuardError).code).toBe('ERR_INVALID_OPTION')
      expect((error as GuardError).message).toContain('dpop')
    })
  }
})

describe('RFC 9728 metadata with DPoP', () => {
  it('advertises dpop_signing_alg_values_supported and dpop_bound_access_tokens_required from the dpop options', async () => {
    const dpop: DpopOptions = { required: true, algorithms: ['ES256', 'EdDSA'] }
    const metadata = protectedResourceMetadata({
      resource: 'https://api.example/geoapi',
      authorizationServers: [idp.issuer],
      dpop,
    })
    expect(metadata.document).toMatchObject({
      resource: 'https://api.example/geoapi',
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
      dpop_bound_access_tokens_required: true,
    })
    const served = await new Hono().get(metadata.path, metadata.handler).request(metadata.url)
    expect((await served.json()).dpop_bound_access_tokens_required).toBe(true)
    // The defaults, when dpop is given without them; nothing when it is not given.
    const defaults = protectedResourceMetadata({
      resource: AUDIENCE,
      authorizationServers: [idp.issuer],
      dpop: {},
    })
    expect(defaults.document.dpop_signing_alg_values_supported).toEqual([...DEFAULT_DPOP_ALGORITHMS])
    expect(defaults.document.dpop_bound_access_tokens_required).toBe(false)
    const plain = protectedResourceMetadata({ resource: AUDIENCE, authorizationServers: [idp.issuer] })
    expect('dpop_bound_access_tokens_required' in plain.document).toBe(false)
  })
})

describe('DPoP fuzzing', () => {
  it('whatever DPoP header and scheme arrive, the answer is 200 or 400/401 with a challenge, never a 5xx', async () => {
    const api = app({ nonce: true })
    const real = await dpopProof(key, { htu: URL_, token: bound })
    const [header, payload] = real.split('.') as [string, string]
    const proofish = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.constantFrom('', '.', '..', 'a.b.c', real, `${real}, ${real}`, `${header}.${payload}.`),
      fc
        .tuple(fc.json(), fc.json(), fc.string())
        .map(([h, p, s]) => `${b64url(h)}.${b64url(p)}.${b64url(s)}`),
      fc.json().map((p) => `${header}.${b64url(p)}.${real.split('.')[2]}`),
      fc.json().map((h) => `${b64url(h)}.${payload}.${real.split('.')[2]}`),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('DPoP', 'dpop', 'Bearer', 'DPoP  ', 'Basic'),
        fc.constantFrom(bound, unbound, 'opaque-junk', `${bound}x`),
        fc.option(proofish, { nil: undefined }),
        fc.constantFrom('GET', 'POST', 'OPTIONS'),
        async (scheme, token, proof, method) => {
          const headers: Record<string, string> = { authorization: `${scheme} ${token}` }
          if (proof !== undefined) headers.dpop = proof
          let response: Response
          try {
            response = await api.request(URL_, { method, headers })
          } catch (error) {
            // A header value fetch refuses to carry (a control character) never reaches the guard.
            if (error instanceof TypeError) return
            throw error
          }
          expect([200, 400, 401]).toContain(response.status)
          if (response.status !== 200) {
            expect(response.headers.get('www-authenticate')).toBeTruthy()
            const text = await response.text()
            expect(text).not.toContain(bound)
            expect(response.headers.get('www-authenticate')).not.toContain(bound)
          }
        },
      ),
      { numRuns: 300 },
    )
  }, 60_000)
})
