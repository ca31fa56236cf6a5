import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { basic, codeLogin, decodeJwt, idpWith, post, postJson } from './helpers.ts'

describe('client credentials', () => {
  it('issues an access token with sub = client_id and no refresh or ID token', async () => {
    const idp = await idpWith()
    const { status, body } = await postJson(
      idp,
      '/token',
      { grant_type: 'client_credentials', scope: 'profile' },
      { authorization: basic('svc', 's3cret-value') },
    )
    expect(status).toBe(200)
    expect(body.refresh_token).toBeUndefined()
    expect(body.id_token).toBeUndefined()
    expect(decodeJwt(String(body.access_token)).payload).toMatchObject({
      sub: 'svc',
      client_id: 'svc',
      scope: 'profile',
      aud: idp.issuer,
    })
  })

  it('refuses public clients; narrows openid and unknown scopes, or refuses them under strict.scopes', async () => {
    const idp = await idpWith()
    expect(
      (await postJson(idp, '/token', { grant_type: 'client_credentials', client_id: 'cli' })).body.error,
    ).toBe('unauthorized_client')
    const auth = { authorization: basic('svc', 's3cret-value') }
    const narrowed = await postJson(
      idp,
      '/token',
      { grant_type: 'client_credentials', scope: 'openid profile admin' },
      auth,
    )
    expect(narrowed.status).toBe(200)
    expect(narrowed.body.scope).toBe('profile')
    expect(narrowed.body.id_token).toBeUndefined()
    expect(decodeJwt(String(narrowed.body.access_token)).payload.scope).toBe('profile')
    const strict = await idpWith({ strict: { scopes: true } })
    for (const scope of ['openid', 'admin']) {
      const refused = await postJson(strict, '/token', { grant_type: 'client_credentials', scope }, auth)
      expect(refused.body.error).toBe('invalid_scope')
      expect(refused.body.error_description).toContain('strict.scopes')
    }
  })

  it('honours audience per client and opaque tokens per client', async () => {
    const idp = await idpWith()
    idp.control.clients.add({
      clientId: 'api',
      clientSecret: 'x',
      audience: ['https://api.example'],
      accessTokenFormat: 'opaque',
    })
    const { body } = await postJson(
      idp,
      '/token',
      { grant_type: 'client_credentials' },
      { authorization: basic('api', 'x') },
    )
    expect(String(body.access_token).split('.')).toHaveLength(1)
    const info = await postJson(
      idp,
      '/introspect',
      { token: String(body.access_token) },
      { authorization: basic('svc', 's3cret-value') },
    )
    expect(info.body).toMatchObject({ active: true, client_id: 'api', aud: ['https://api.example'] })
  })
})

describe('client authentication', () => {
  it('accepts client_secret_basic and client_secret_post, with form-encoded Basic credentials', async () => {
    const idp = await idpWith()
    idp.control.clients.add({ clientId: 'a b:c', clientSecret: 'p@ss:w%rd' })
    expect(
      (
        await post(
          idp,
          '/token',
          { grant_type: 'client_credentials' },
          { authorization: basic('a b:c', 'p@ss:w%rd') },
        )
      ).status,
    ).toBe(200)
    expect(
      (
        await post(idp, '/token', {
          grant_type: 'client_credentials',
          client_id: 'a b:c',
          client_secret: 'p@ss:w%rd',
        })
      ).status,
    ).toBe(200)
  })

  it('answers 401 invalid_client with WWW-Authenticate for a wrong secret, unknown client or missing auth', async () => {
    const idp = await idpWith()
    for (const [params, headers] of [
      [{ grant_type: 'client_credentials' }, { authorization: basic('svc', 'wrong') }],
      [{ grant_type: 'client_credentials', client_id: 'svc', client_secret: 'wrong' }, {}],
      [{ grant_type: 'client_credentials' }, { authorization: basic('ghost', 'x') }],
      [{ grant_type: 'client_credentials', client_id: 'svc' }, {}],
      [{ grant_type: 'client_credentials' }, {}],
      [{ grant_type: 'client_credentials' }, { authorization: 'Basic !!!' }],
    ] as Array<[Record<string, string>, Record<string, string>]>) {
      const response = await post(idp, '/token', params, headers)
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic /)
      expect(((await response.json()) as { error: string }).error).toBe('invalid_client')
    }
  })

  it('refuses two authentication methods at once and a pinned method used otherwise', async () => {
    const idp = await idpWith()
    const both = await postJson(
      idp,
      '/token',
      { grant_type: 'client_credentials', client_id: 'svc', client_secret: 's3cret-value' },
      { authorization: basic('svc', 's3cret-value') },
    )
    expect(both.body.error).toBe('invalid_request')
    idp.control.clients.add({
      clientId: 'pinned',
      clientSecret: 'x',
      tokenEndpointAuthMethod: 'client_secret_basic',
    })
    const viaPost = await postJson(idp, '/token', {
      grant_type: 'client_credentials',
      client_id: 'pinned',
      client_secret: 'x',
    })
    expect(viaPost.status).toBe(401)
  })

  it('verifies private_key_jwt assertions: signature, audience, expiry and single use', async () => {
    const idp = await idpWith()
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    idp.control.clients.add({ clientId: 'pkj', jwks: { keys: [await exportJWK(publicKey)] } })
    const assertion = (claims: Record<string, unknown> = {}, key: CryptoKey = privateKey) =>
      new SignJWT({ jti: crypto.randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer('pkj')
        .setSubject('pkj')
        .setAudience(typeof claims.aud === 'string' ? claims.aud : `${idp.issuer}/token`)
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(key)
    const send = (jwt: string) =>
      postJson(idp, '/token', {
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: jwt,
      })
    const good = await assertion()
    expect((await send(good)).status).toBe(200)
    expect((await send(good)).status).toBe(401) // jti replay
    const other = await generateKeyPair('ES256')
    expect((await send(await assertion({}, other.privateKey))).status).toBe(401)
    expect((await send(await assertion({ aud: 'https://elsewhere' }))).status).toBe(401)
    idp.control.clock.advance(120_000)
    expect((await send(await assertion())).status).toBe(401) // its exp has passed on the mock clock
  })
})

describe('password grant', () => {
  it('is off unless the client lists it, and checks the password', async () => {
    const idp = await idpWith()
    const auth = { authorization: basic('svc', 's3cret-value') }
    expect(
      (await postJson(idp, '/token', { grant_type: 'password', username: 'alice', password: 'alice' }, auth))
        .body.error,
    ).toBe('unauthorized_client')
    const web = { authorization: basic('web', 'web-secret') }
    expect(
      (await postJson(idp, '/token', { grant_type: 'password', username: 'alice', password: 'wrong' }, web))
        .body.error,
    ).toBe('invalid_grant')
    expect(
      (await postJson(idp, '/token', { grant_type: 'password', username: 'alice' }, web)).body.error,
    ).toBe('invalid_request')
    const ok = await postJson(
      idp,
      '/token',
      { grant_type: 'password', username: 'alice', password: 'alice', scope: 'openid email' },
      web,
    )
    expect(ok.status).toBe(200)
    expect(decodeJwt(String(ok.body.id_token)).payload).toMatchObject({
      sub: 'alice',
      email: 'alice@example.com',
    })
    expect(typeof ok.body.refresh_token).toBe('string')
  })
})

describe('refresh token grant', () => {
  it('rotates refresh tokens and revokes the whole family when a rotated one is reused', async () => {
    const idp = await idpWith()
    const first = await codeLogin(idp)
    const refresh = (token: unknown) =>
      postJson(idp, '/token', { grant_type: 'refresh_token', client_id: 'cli', refresh_token: String(token) })
    const second = await refresh(first.refresh_token)
    expect(second.status).toBe(200)
    expect(second.body.refresh_token).not.toBe(first.refresh_token)
    const third = await refresh(second.body.refresh_token)
    expect(third.status).toBe(200)
    const reuse = await refresh(first.refresh_token)
    expect(reuse.body.error).toBe('invalid_grant')
    expect((await refresh(third.body.refresh_token)).body.error).toBe('invalid_grant')
    const userinfo = await idp.fetch(`${idp.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${third.body.access_token}` },
    })
    expect(userinfo.status).toBe(401)
  })

  it('keeps the refresh token when rotation is off, narrows scope, refuses wider scope and other clients', async () => {
    const idp = await idpWith({ rotateRefreshTokens: false })
    const first = await codeLogin(idp)
    const again = await postJson(idp, '/token', {
      grant_type: 'refresh_token',
      client_id: 'cli',
      refresh_token: String(first.refresh_token),
      scope: 'openid',
    })
    expect(again.status).toBe(200)
    expect(again.body.refresh_token).toBeUndefined()
    expect(again.body.scope).toBe('openid')
    const wider = await postJson(idp, '/token', {
      grant_type: 'refresh_token',
      client_id: 'cli',
      refresh_token: String(first.refresh_token),
      scope: 'openid offline_access',
    })
    // Scopes beyond the original grant are dropped by default, refused under strict.scopes.
    expect(wider.status).toBe(200)
    expect(wider.body.scope).toBe('openid')
    const strict = await idpWith({ rotateRefreshTokens: false, strict: true })
    const strictFirst = await codeLogin(strict)
    const refused = await postJson(strict, '/token', {
      grant_type: 'refresh_token',
      client_id: 'cli',
      refresh_token: String(strictFirst.refresh_token),
      scope: 'openid offline_access',
    })
    expect(refused.body.error).toBe('invalid_scope')
    const stolen = await postJson(
      idp,
      '/token',
      { grant_type: 'refresh_token', refresh_token: String(first.refresh_token) },
      { authorization: basic('web', 'web-secret') },
    )
    expect(stolen.body.error).toBe('invalid_grant')
  })

  it('expires refresh tokens on the mock clock', async () => {
    const idp = await idpWith({ lifetimes: { refreshTokenS: 100 } })
    const first = await codeLogin(idp)
    idp.control.clock.advance(101_000)
    const late = await postJson(idp, '/token', {
      grant_type: 'refresh_token',
      client_id: 'cli',
      refresh_token: String(first.refresh_token),
    })
    expect(late.body).toMatchObject({
      error: 'invalid_grant',
      error_description: 'the refresh token has expired',
    })
  })
})

describe('token endpoint input', () => {
  it('refuses a missing or unknown grant_type, a wrong content type and duplicate parameters', async () => {
    const idp = await idpWith()
    expect((await postJson(idp, '/token', { client_id: 'cli' })).body.error).toBe('invalid_request')
    expect((await postJson(idp, '/token', { grant_type: 'implicit', client_id: 'cli' })).body.error).toBe(
      'unsupported_grant_type',
    )
    const json = await idp.fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
    })
    expect(json.status).toBe(400)
    const dup = await idp.fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&client_id=cli&client_id=cli&refresh_token=x',
    })
    expect(((await dup.json()) as { error: string; error_description: string }).error_description).toContain(
      'more than once',
    )
    const huge = await post(idp, '/token', { grant_type: 'client_credentials', pad: 'x'.repeat(70_000) })
    expect(huge.status).toBe(413)
  })
})
