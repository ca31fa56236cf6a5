/**
 * DPoP (RFC 9449) at the mock IdP: bound tokens for every grant, the proof checks of §4.3 as an
 * attack matrix, server nonces (§8), key-bound refresh tokens of public clients (§5), `dpop_jkt`
 * (§10), and bound tokens at userinfo (§7).
 */
import { exportJWK } from 'jose'
import { describe, expect, it } from 'vitest'
import { ath, codeFor, dpopKey, proof, send } from './dpop-helpers.ts'
import { basic, decodeJwt, idpWith, pkce } from './helpers.ts'

const SVC = { authorization: basic('svc', 's3cret-value') }
const CC = { grant_type: 'client_credentials' }

describe('DPoP-bound tokens', () => {
  it('binds a client credentials token to the proof key: token_type, cnf.jkt, introspection, journal', async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const answer = await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key) })
    expect(answer.status).toBe(200)
    expect(answer.body.token_type).toBe('DPoP')
    const token = String(answer.body.access_token)
    expect(decodeJwt(token).payload.cnf).toEqual({ jkt: key.jkt })
    const info = await send(idp, '/introspect', { token }, SVC)
    expect(info.body).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } })
    const [entry] = idp.control.journal.entries({ endpoint: 'token' })
    expect(entry?.dpop).toMatchObject({ jkt: key.jkt, alg: 'ES256', htm: 'POST', htu: `${idp.issuer}/token` })
    // The journal holds the thumbprint, never key material or the proof itself.
    expect(JSON.stringify(entry)).not.toContain(String(key.publicJwk.x))
  })

  it('issues Bearer tokens without a proof, and opaque DPoP tokens introspect with cnf', async () => {
    const idp = await idpWith({ accessTokenFormat: 'opaque' })
    const bearer = await send(idp, '/token', CC, SVC)
    expect(bearer.body.token_type).toBe('Bearer')
    const key = await dpopKey('EdDSA')
    const bound = await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key) })
    expect(bound.body.token_type).toBe('DPoP')
    const info = await send(idp, '/introspect', { token: String(bound.body.access_token) }, SVC)
    expect(info.body.cnf).toEqual({ jkt: key.jkt })
  })

  it('binds tokens of the password and device grants too, for RSA and EdDSA keys as well', async () => {
    const idp = await idpWith({ users: [{ sub: 'alice', password: 'alice' }] })
    for (const alg of ['ES256', 'PS256', 'RS256', 'EdDSA']) {
      const key = await dpopKey(alg)
      const pw = await send(
        idp,
        '/token',
        { grant_type: 'password', username: 'alice', password: 'alice', scope: 'openid' },
        { authorization: basic('web', 'web-secret'), dpop: await proof(idp, key) },
      )
      expect(pw.status).toBe(200)
      expect(decodeJwt(String(pw.body.access_token)).payload.cnf).toEqual({ jkt: key.jkt })
    }
    const key = await dpopKey()
    const started = await send(idp, '/device_authorization', { client_id: 'cli', scope: 'openid' })
    idp.control.devices.approve(String(started.body.user_code))
    const device = await send(
      idp,
      '/token',
      {
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        client_id: 'cli',
        device_code: String(started.body.device_code),
      },
      { dpop: await proof(idp, key) },
    )
    expect(device.status).toBe(200)
    expect(device.body.token_type).toBe('DPoP')
  })

  it('refuses a client with dpopBoundAccessTokens that sends no proof', async () => {
    const idp = await idpWith()
    idp.control.clients.add({ clientId: 'bound', clientSecret: 'bound-secret', dpopBoundAccessTokens: true })
    const auth = { authorization: basic('bound', 'bound-secret') }
    const refused = await send(idp, '/token', CC, auth)
    expect(refused.status).toBe(400)
    expect(refused.body.error).toBe('invalid_request')
    expect(refused.body.error_description).toContain('dpopBoundAccessTokens')
    const key = await dpopKey()
    expect((await send(idp, '/token', CC, { ...auth, dpop: await proof(idp, key) })).status).toBe(200)
  })

  it('advertises the proof algorithms in discovery', async () => {
    const idp = await idpWith()
    const doc = (await (await idp.fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >
    expect(doc.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'RS256', 'EdDSA']))
    expect(doc.dpop_signing_alg_values_supported).not.toContain('HS256')
  })

  it('mints bound tokens from the control plane for resource-server tests', async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const minted = await idp.control.tokens.issue({ clientId: 'svc', jkt: key.jkt })
    expect(minted.token_type).toBe('DPoP')
    expect(decodeJwt(minted.access_token).payload.cnf).toEqual({ jkt: key.jkt })
    const refused = await idp.control.tokens.issue({ clientId: 'svc', jkt: 'short' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(refused).toMatchObject({ code: 'ERR_INVALID_OPTION' })
  })
})

describe('DPoP proof checks at the token endpoint (RFC 9449 §4.3): each attack is refused', () => {
  const attacks: ReadonlyArray<{
    readonly name: string
    readonly make: (
      idp: Awaited<ReturnType<typeof idpWith>>,
      key: Awaited<ReturnType<typeof dpopKey>>,
    ) => Promise<string>
    readonly says: string
  }> = [
    {
      name: 'a proof for another method',
      make: (idp, key) => proof(idp, key, { htm: 'GET' }),
      says: 'is for GET',
    },
    {
      name: 'a proof for another URL',
      make: (idp, key) => proof(idp, key, { htu: `${idp.issuer}/userinfo` }),
      says: '/userinfo',
    },
    {
      name: 'a proof for another host',
      make: (idp, key) => proof(idp, key, { htu: 'https://evil.example/token' }),
      says: 'evil.example',
    },
    {
      name: 'a proof signed by another key than its jwk',
      make: async (idp, key) => proof(idp, key, { signWith: (await dpopKey()).privateKey }),
      says: 'signature',
    },
    {
      name: 'a stale iat',
      make: (idp, key) => proof(idp, key, { iat: Math.floor(idp.control.clock.now() / 1000) - 301 }),
      says: 'in the past',
    },
    {
      name: 'an iat in the future',
      make: (idp, key) => proof(idp, key, { iat: Math.floor(idp.control.clock.now() / 1000) + 301 }),
      says: 'in the future',
    },
    {
      name: 'typ JWT',
      make: (idp, key) => proof(idp, key, { header: { typ: 'JWT' } }),
      says: 'dpop+jwt',
    },
    {
      name: 'no typ',
      make: (idp, key) => proof(idp, key, { header: { typ: undefined } }),
      says: 'dpop+jwt',
    },
    {
      name: 'alg none',
      make: async (idp, key) => {
        const [, payload] = (await proof(idp, key)).split('.')
        const header = btoa(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk }))
        return `${header.replaceAll('=', '').replaceAll('+', '-').replaceAll('/', '_')}.${payload}.`
      },
      says: 'asymmetric',
    },
    {
      name: 'a symmetric alg (HS256)',
      make: async (idp) => {
        const { SignJWT } = await import('jose')
        const secret = crypto.getRandomValues(new Uint8Array(32))
        return new SignJWT({
          htm: 'POST',
          htu: `${idp.issuer}/token`,
          iat: idp.control.clock.nowSeconds(),
          jti: 'j',
        })
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'AAAA' } } as never)
          .sign(secret)
      },
      says: 'asymmetric',
    },
    {
      name: 'a private key in jwk',
      make: async (idp, key) => proof(idp, key, { header: { jwk: await exportJWK(key.privateKey) } }),
      says: 'private',
    },
    {
      name: 'a jwk that is no point on its curve',
      make: (idp, key) => proof(idp, key, { header: { jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } } }),
      says: 'rejected',
    },
    {
      name: 'no jwk',
      make: (idp, key) => proof(idp, key, { header: { jwk: undefined } }),
      says: 'jwk',
    },
    { name: 'no jti', make: (idp, key) => proof(idp, key, { jti: undefined }), says: 'jti' },
    { name: 'no htm', make: (idp, key) => proof(idp, key, { htm: undefined }), says: 'htm' },
    { name: 'no iat', make: (idp, key) => proof(idp, key, { iat: undefined }), says: 'iat' },
    { name: 'not a JWS at all', make: async () => 'not-a-proof', says: 'compact JWS' },
    {
      name: 'two DPoP headers',
      make: async (idp, key) => `${await proof(idp, key)}, ${await proof(idp, key)}`,
      says: 'exactly one',
    },
  ]

  for (const attack of attacks) {
    it(`refuses ${attack.name} with 400 invalid_dpop_proof`, async () => {
      const idp = await idpWith()
      const key = await dpopKey()
      const answer = await send(idp, '/token', CC, { ...SVC, dpop: await attack.make(idp, key) })
      expect(answer.status).toBe(400)
      expect(answer.body.error).toBe('invalid_dpop_proof')
      expect(String(answer.body.error_description)).toContain(attack.says)
      expect(answer.headers.get('cache-control')).toBe('no-store')
      expect(idp.control.stats().accessTokens).toBe(0)
      // Whatever the proof held, the journal never shows private key material.
      const journal = JSON.stringify(idp.control.journal.entries())
      expect(journal).not.toContain(String((await exportJWK(key.privateKey)).d))
    })
  }

  it('refuses a replayed jti, and keeps replay ids bounded by limits.dpopProofs', async () => {
    const idp = await idpWith({ limits: { dpopProofs: 3 } })
    const key = await dpopKey()
    const once = await proof(idp, key)
    expect((await send(idp, '/token', CC, { ...SVC, dpop: once })).status).toBe(200)
    const replay = await send(idp, '/token', CC, { ...SVC, dpop: once })
    expect(replay.status).toBe(400)
    expect(replay.body.error).toBe('invalid_dpop_proof')
    expect(replay.body.error_description).toContain('already used')
    for (let i = 0; i < 5; i++) await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key) })
    expect(idp.control.stats().dpopProofs).toBe(3)
  })

  it('accepts a proof whose htu differs only in query, fragment or case of scheme and host', async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const htu = `${idp.issuer.replace('https://mock-idp', 'HTTPS://MOCK-IDP')}/token?x=1#f`
    expect((await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key, { htu }) })).status).toBe(200)
  })

  it('judges iat on the IdP clock and honours dpop.proofWindowS', async () => {
    const idp = await idpWith({ dpop: { proofWindowS: 10 } })
    const key = await dpopKey()
    const early = await proof(idp, key)
    idp.control.clock.advance(11_000)
    const late = await send(idp, '/token', CC, { ...SVC, dpop: early })
    expect(late.body.error).toBe('invalid_dpop_proof')
    expect(late.body.error_description).toContain('dpop.proofWindowS')
    expect((await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key) })).status).toBe(200)
  })
})

describe('DPoP nonces (RFC 9449 §8)', () => {
  it('demands a nonce when the control switch is on: use_dpop_nonce with DPoP-Nonce, then success', async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const { nonce } = idp.control.dpop.requireNonce(true)
    const first = await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key) })
    expect(first.status).toBe(400)
    expect(first.body.error).toBe('use_dpop_nonce')
    expect(first.headers.get('dpop-nonce')).toBe(nonce)
    const second = await send(idp, '/token', CC, {
      ...SVC,
      dpop: await proof(idp, key, { nonce: String(first.headers.get('dpop-nonce')) }),
    })
    expect(second.status).toBe(200)
    expect(second.headers.get('dpop-nonce')).toBe(nonce)
    const entries = idp.control.journal.entries({ endpoint: 'token' })
    expect(entries.map((e) => [e.error, e.dpop?.nonce, e.dpop?.issuedNonce])).toEqual([
      ['use_dpop_nonce', undefined, nonce],
      [undefined, nonce, nonce],
    ])
    // Back to the settings: no nonce needed.
    idp.control.dpop.requireNonce(undefined)
    expect((await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key) })).status).toBe(200)
  })

  it('refuses a stale nonce after two rotations, and a made-up one', async () => {
    const idp = await idpWith({ dpop: { nonce: true } })
    const key = await dpopKey()
    const old = idp.control.dpop.info().nonce
    idp.control.dpop.rotateNonce()
    expect(
      (await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key, { nonce: old }) })).status,
    ).toBe(200)
    const { nonce } = idp.control.dpop.rotateNonce()
    const stale = await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key, { nonce: old }) })
    expect(stale.body.error).toBe('use_dpop_nonce')
    expect(stale.headers.get('dpop-nonce')).toBe(nonce)
    const made = await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key, { nonce: 'made-up' }) })
    expect(made.body.error).toBe('use_dpop_nonce')
  })

  it('rotates nonces on the IdP clock (dpop.nonceLifetimeS)', async () => {
    const idp = await idpWith({ dpop: { nonce: true, nonceLifetimeS: 60 } })
    const first = idp.control.dpop.info().nonce
    idp.control.clock.advance(61_000)
    const second = idp.control.dpop.info().nonce
    expect(second).not.toBe(first)
    idp.control.clock.advance(61_000)
    const key = await dpopKey()
    const answer = await send(idp, '/token', CC, { ...SVC, dpop: await proof(idp, key, { nonce: first }) })
    expect(answer.body.error).toBe('use_dpop_nonce')
  })

  it('demands nonces per client (requireDpopNonce), which overrides the IdP setting', async () => {
    const idp = await idpWith({ dpop: { nonce: true } })
    idp.control.clients.add({ clientId: 'lax', clientSecret: 'lax-secret', requireDpopNonce: false })
    idp.control.clients.add({ clientId: 'picky', clientSecret: 'picky-secret', requireDpopNonce: true })
    const key = await dpopKey()
    const lax = await send(idp, '/token', CC, {
      authorization: basic('lax', 'lax-secret'),
      dpop: await proof(idp, key),
    })
    expect(lax.status).toBe(200)
    expect(lax.headers.get('dpop-nonce')).toBeNull()
    const picky = await send(idp, '/token', CC, {
      authorization: basic('picky', 'picky-secret'),
      dpop: await proof(idp, key),
    })
    expect(picky.body.error).toBe('use_dpop_nonce')
    // The control switch overrides both.
    idp.control.dpop.requireNonce(false)
    const forced = await send(idp, '/token', CC, {
      authorization: basic('picky', 'picky-secret'),
      dpop: await proof(idp, key),
    })
    expect(forced.status).toBe(200)
  })

  it('is switchable over HTTP', async () => {
    const idp = await idpWith()
    const post = (body: unknown) =>
      idp.fetch(`${idp.issuer}/_control/dpop`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const on = (await (await post({ requireNonce: true })).json()) as Record<string, unknown>
    expect(on.requireNonce).toBe(true)
    const rotated = (await (await post({ rotate: true })).json()) as Record<string, unknown>
    expect(rotated.nonce).not.toBe(on.nonce)
    const off = (await (await post({ requireNonce: null })).json()) as Record<string, unknown>
    expect(off.requireNonce).toBeUndefined()
    expect((await post({ requireNonce: 'yes' })).status).toBe(400)
  })
})

describe('key-bound grants (RFC 9449 §5, §10)', () => {
  async function boundLogin(
    idp: Awaited<ReturnType<typeof idpWith>>,
    key: Awaited<ReturnType<typeof dpopKey>>,
  ) {
    const { code, verifier, redirectUri } = await codeFor(idp)
    const answer = await send(
      idp,
      '/token',
      {
        grant_type: 'authorization_code',
        client_id: 'cli',
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
      },
      { dpop: await proof(idp, key) },
    )
    expect(answer.status).toBe(200)
    return answer.body
  }

  it("binds a public client's refresh token to the key: same key refreshes, another key or none is refused", async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const tokens = await boundLogin(idp, key)
    expect(tokens.token_type).toBe('DPoP')
    const info = await send(idp, '/introspect', { token: String(tokens.refresh_token) }, SVC)
    expect(info.body.cnf).toEqual({ jkt: key.jkt })
    const refresh = {
      grant_type: 'refresh_token',
      client_id: 'cli',
      refresh_token: String(tokens.refresh_token),
    }
    const other = await send(idp, '/token', refresh, { dpop: await proof(idp, await dpopKey()) })
    expect(other.status).toBe(400)
    expect(other.body.error).toBe('invalid_grant')
    expect(other.body.error_description).toContain('another DPoP key')
    const none = await send(idp, '/token', refresh)
    expect(none.body.error).toBe('invalid_grant')
    // Neither refusal used the token up.
    const same = await send(idp, '/token', refresh, { dpop: await proof(idp, key) })
    expect(same.status).toBe(200)
    expect(same.body.token_type).toBe('DPoP')
    // The rotated refresh token keeps the binding.
    const next = { ...refresh, refresh_token: String(same.body.refresh_token) }
    expect((await send(idp, '/token', next, { dpop: await proof(idp, await dpopKey()) })).body.error).toBe(
      'invalid_grant',
    )
  })

  it("leaves a confidential client's refresh token unbound: the access token follows each request's proof", async () => {
    const idp = await idpWith({ users: [{ sub: 'alice', password: 'alice' }] })
    const auth = { authorization: basic('web', 'web-secret') }
    const key = await dpopKey()
    const first = await send(
      idp,
      '/token',
      { grant_type: 'password', username: 'alice', password: 'alice' },
      { ...auth, dpop: await proof(idp, key) },
    )
    expect(first.body.token_type).toBe('DPoP')
    const plain = await send(
      idp,
      '/token',
      { grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) },
      auth,
    )
    expect(plain.status).toBe(200)
    expect(plain.body.token_type).toBe('Bearer')
  })

  it('honours dpop_jkt: the code is redeemable with a proof of that key only', async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const exchange = async (extra: Record<string, string>, dpop?: string) => {
      const { code, verifier, redirectUri } = await codeFor(idp, extra)
      const params = {
        grant_type: 'authorization_code',
        client_id: 'cli',
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
      }
      return send(idp, '/token', params, dpop === undefined ? {} : { dpop })
    }
    const wrong = await exchange({ dpop_jkt: key.jkt }, await proof(idp, await dpopKey()))
    expect(wrong.body.error).toBe('invalid_grant')
    expect(wrong.body.error_description).toContain('dpop_jkt')
    expect((await exchange({ dpop_jkt: key.jkt })).body.error).toBe('invalid_grant')
    const right = await exchange({ dpop_jkt: key.jkt }, await proof(idp, key))
    expect(right.status).toBe(200)
    expect(decodeJwt(String(right.body.access_token)).payload.cnf).toEqual({ jkt: key.jkt })
  })

  it('refuses a malformed dpop_jkt at authorize with a redirect', async () => {
    const idp = await idpWith()
    const { challenge } = await pkce()
    const url = new URL(`${idp.issuer}/authorize`)
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: 'cli',
      redirect_uri: 'http://127.0.0.1/callback',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      dpop_jkt: 'not a thumbprint',
    }))
      url.searchParams.set(k, v)
    const answer = await idp.fetch(url)
    expect(answer.status).toBe(302)
    const q = new URL(String(answer.headers.get('location'))).searchParams
    expect(q.get('error')).toBe('invalid_request')
    expect(q.get('error_description')).toContain('dpop_jkt')
  })
})

describe('DPoP-bound tokens at userinfo (RFC 9449 §7)', () => {
  async function boundToken() {
    const idp = await idpWith()
    const key = await dpopKey()
    const minted = await idp.control.tokens.issue({
      clientId: 'cli',
      sub: 'alice',
      scope: 'openid profile',
      jkt: key.jkt,
    })
    return { idp, key, token: minted.access_token }
  }
  const get = (idp: Awaited<ReturnType<typeof idpWith>>, headers: Record<string, string>) =>
    idp.fetch(`${idp.issuer}/userinfo`, { headers })

  it('answers a bound token with a proof that names it (ath)', async () => {
    const { idp, key, token } = await boundToken()
    const dpop = await proof(idp, key, { htm: 'GET', htu: `${idp.issuer}/userinfo`, ath: await ath(token) })
    const answer = await get(idp, { authorization: `DPoP ${token}`, dpop })
    expect(answer.status).toBe(200)
    expect(((await answer.json()) as Record<string, unknown>).sub).toBe('alice')
  })

  it('refuses a bound token as Bearer, without a proof, with a wrong ath or another key', async () => {
    const { idp, key, token } = await boundToken()
    const asBearer = await get(idp, { authorization: `Bearer ${token}` })
    expect(asBearer.status).toBe(401)
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token".*algs="/)
    const noProof = await get(idp, { authorization: `DPoP ${token}` })
    expect(noProof.status).toBe(401)
    expect(noProof.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"')
    const badAth = await get(idp, {
      authorization: `DPoP ${token}`,
      dpop: await proof(idp, key, { htm: 'GET', htu: `${idp.issuer}/userinfo`, ath: await ath('other') }),
    })
    expect(badAth.status).toBe(401)
    expect(((await badAth.json()) as Record<string, unknown>).error).toBe('invalid_dpop_proof')
    const otherKey = await get(idp, {
      authorization: `DPoP ${token}`,
      dpop: await proof(idp, await dpopKey(), {
        htm: 'GET',
        htu: `${idp.issuer}/userinfo`,
        ath: await ath(token),
      }),
    })
    expect(otherKey.status).toBe(401)
    expect(((await otherKey.json()) as Record<string, unknown>).error_description).toContain('bound to')
  })

  it('accepts an unbound token with the DPoP scheme and a valid proof, never without a proof', async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const minted = await idp.control.tokens.issue({ clientId: 'cli', sub: 'alice', scope: 'openid' })
    const bare = await get(idp, { authorization: `DPoP ${minted.access_token}` })
    expect(bare.status).toBe(401)
    expect(bare.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_dpop_proof"/)
    const proven = await get(idp, {
      authorization: `DPoP ${minted.access_token}`,
      dpop: await proof(idp, key, {
        htm: 'GET',
        htu: `${idp.issuer}/userinfo`,
        ath: await ath(minted.access_token),
      }),
    })
    expect(proven.status).toBe(200)
  })
})

describe('options of DPoP, PAR and resource indicators', () => {
  it('refuses bad values with ERR_INVALID_OPTION naming the option', async () => {
    const cases: ReadonlyArray<readonly [Parameters<typeof idpWith>[0], string]> = [
      [{ dpop: { proofWindowS: -1 } }, 'dpop.proofWindowS'],
      [{ dpop: { nonceLifetimeS: 0 } }, 'dpop.nonceLifetimeS'],
      [{ lifetimes: { requestUriS: Number.NaN } }, 'lifetimes.requestUriS'],
      [{ resources: ['https://api.example/#x'] }, 'fragment'],
      [{ resources: 'https://api.example/' as never }, 'array'],
      [{ clients: [{ clientId: 'c', dpopBoundAccessTokens: 'yes' as never }] }, 'dpopBoundAccessTokens'],
      [{ clients: [{ clientId: 'c', resources: ['relative/path'] }] }, 'absolute URI'],
    ]
    for (const [options, names] of cases) {
      const error = await idpWith(options).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION' })
      expect(String((error as Error).message)).toContain(names)
    }
  })
})
