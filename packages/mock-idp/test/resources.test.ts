import { describe, expect, it } from 'vitest'
import { basic, codeLogin, decodeJwt, idpWith, post, postJson } from './helpers.ts'

const SVC = { authorization: basic('svc', 's3cret-value') }

describe('userinfo', () => {
  it('answers claims released by scope for a valid token, in the header or the form body', async () => {
    const idp = await idpWith()
    const tokens = await codeLogin(idp)
    const viaHeader = await idp.fetch(`${idp.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    })
    expect(viaHeader.status).toBe(200)
    expect(await viaHeader.json()).toMatchObject({
      sub: 'alice',
      name: 'Alice Example',
      email: 'alice@example.com',
    })
    const viaBody = await post(idp, '/userinfo', { access_token: String(tokens.access_token) })
    expect(viaBody.status).toBe(200)
  })

  it('answers RFC 6750 errors: 401 invalid_token with a Bearer challenge, 403 insufficient_scope', async () => {
    const idp = await idpWith()
    const none = await idp.fetch(`${idp.issuer}/userinfo`)
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="mock-idp"')
    const garbage = await idp.fetch(`${idp.issuer}/userinfo`, {
      headers: { authorization: 'Bearer abc.def.ghi' },
    })
    expect(garbage.status).toBe(401)
    expect(garbage.headers.get('www-authenticate')).toContain('error="invalid_token"')
    const cc = await postJson(idp, '/token', { grant_type: 'client_credentials' }, SVC)
    const noOpenid = await idp.fetch(`${idp.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${cc.body.access_token}` },
    })
    expect(noOpenid.status).toBe(403)
    const tokens = await codeLogin(idp)
    idp.control.clock.advance(3_601_000)
    const expired = await idp.fetch(`${idp.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    })
    expect(expired.status).toBe(401)
  })

  it('refuses a token signed by a key the IdP never published', async () => {
    const other = await idpWith({ keys: 'generate' })
    const idp = await idpWith({ keys: 'generate' })
    const foreign = await codeLogin(other)
    const response = await idp.fetch(`${idp.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${foreign.access_token}` },
    })
    expect(response.status).toBe(401)
  })
})

describe('introspection (RFC 7662)', () => {
  it('describes live access and refresh tokens, and answers active:false for anything else', async () => {
    const idp = await idpWith()
    const tokens = await codeLogin(idp)
    const access = await postJson(idp, '/introspect', { token: String(tokens.access_token) }, SVC)
    expect(access.body).toMatchObject({
      active: true,
      sub: 'alice',
      client_id: 'cli',
      username: 'alice',
      token_type: 'Bearer',
      iss: idp.issuer,
    })
    const refresh = await postJson(
      idp,
      '/introspect',
      { token: String(tokens.refresh_token), token_type_hint: 'refresh_token' },
      SVC,
    )
    expect(refresh.body).toMatchObject({ active: true, token_type: 'refresh_token', client_id: 'cli' })
    expect((await postJson(idp, '/introspect', { token: 'nope' }, SVC)).body).toEqual({ active: false })
  })

  it('needs an authenticated confidential client', async () => {
    const idp = await idpWith()
    expect((await post(idp, '/introspect', { token: 'x', client_id: 'cli' })).status).toBe(401)
    expect((await post(idp, '/introspect', { token: 'x' })).status).toBe(401)
  })

  it('reflects opaque tokens from an opaque-token IdP', async () => {
    const idp = await idpWith({ accessTokenFormat: 'opaque' })
    const cc = await postJson(idp, '/token', { grant_type: 'client_credentials', scope: 'profile' }, SVC)
    expect(String(cc.body.access_token)).not.toContain('.')
    const info = await postJson(idp, '/introspect', { token: String(cc.body.access_token) }, SVC)
    expect(info.body).toMatchObject({ active: true, scope: 'profile', sub: 'svc' })
    idp.control.clock.advance(3_600_000)
    expect(
      (await postJson(idp, '/introspect', { token: String(cc.body.access_token) }, SVC)).body.active,
    ).toBe(false)
  })
})

describe('revocation (RFC 7009)', () => {
  it('revokes a refresh token with the access tokens of its grant, and answers 200 for unknown tokens', async () => {
    const idp = await idpWith()
    const tokens = await codeLogin(idp)
    const response = await post(idp, '/revoke', {
      token: String(tokens.refresh_token),
      token_type_hint: 'refresh_token',
      client_id: 'cli',
    })
    expect(response.status).toBe(200)
    expect(
      (await postJson(idp, '/introspect', { token: String(tokens.access_token) }, SVC)).body.active,
    ).toBe(false)
    expect(
      (
        await postJson(idp, '/token', {
          grant_type: 'refresh_token',
          client_id: 'cli',
          refresh_token: String(tokens.refresh_token),
        })
      ).body.error,
    ).toBe('invalid_grant')
    expect((await post(idp, '/revoke', { token: 'unknown', client_id: 'cli' })).status).toBe(200)
  })

  it('revokes a single access token and refuses tokens of other clients', async () => {
    const idp = await idpWith()
    const tokens = await codeLogin(idp)
    expect((await post(idp, '/revoke', { token: String(tokens.access_token) }, SVC)).status).toBe(400)
    expect(
      (await post(idp, '/revoke', { token: String(tokens.access_token), client_id: 'cli' })).status,
    ).toBe(200)
    expect(
      (await postJson(idp, '/introspect', { token: String(tokens.access_token) }, SVC)).body.active,
    ).toBe(false)
    expect(
      (await postJson(idp, '/introspect', { token: String(tokens.refresh_token) }, SVC)).body.active,
    ).toBe(true)
  })
})

describe('end session', () => {
  it('redirects to a registered post_logout_redirect_uri with state, and refuses others', async () => {
    const idp = await idpWith()
    const tokens = await postJson(
      idp,
      '/token',
      { grant_type: 'password', username: 'alice', password: 'alice', scope: 'openid' },
      { authorization: basic('web', 'web-secret') },
    )
    const idToken = String(tokens.body.id_token)
    const ok = await idp.fetch(
      `${idp.issuer}/end_session?id_token_hint=${idToken}&post_logout_redirect_uri=${encodeURIComponent('https://app.example/bye')}&state=s1`,
    )
    expect(ok.status).toBe(302)
    expect(ok.headers.get('location')).toBe('https://app.example/bye?state=s1')
    const evil = await idp.fetch(
      `${idp.issuer}/end_session?id_token_hint=${idToken}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`,
    )
    expect(evil.status).toBe(400)
    const forged = await idp.fetch(`${idp.issuer}/end_session?id_token_hint=a.b.c`)
    expect(forged.status).toBe(400)
    const plain = await idp.fetch(`${idp.issuer}/end_session`)
    expect(plain.status).toBe(200)
    expect(await plain.text()).toContain('signed out')
  })
})

describe('dynamic client registration (RFC 7591)', () => {
  const register = (idp: Awaited<ReturnType<typeof idpWith>>, body: unknown) =>
    idp.fetch(`${idp.issuer}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  it('registers a client that can then use the token endpoint', async () => {
    const idp = await idpWith()
    const response = await register(idp, {
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_post',
      client_name: 'robot',
    })
    expect(response.status).toBe(201)
    const client = (await response.json()) as { client_id: string; client_secret: string }
    const token = await post(idp, '/token', {
      grant_type: 'client_credentials',
      client_id: client.client_id,
      client_secret: client.client_secret,
    })
    expect(token.status).toBe(200)
  })

  it('refuses bad metadata with RFC 7591 error codes, and can be switched off', async () => {
    const idp = await idpWith()
    expect(
      ((await (await register(idp, { redirect_uris: ['not a url'] })).json()) as { error: string }).error,
    ).toBe('invalid_redirect_uri')
    expect(((await (await register(idp, { redirect_uris: 'x' })).json()) as { error: string }).error).toBe(
      'invalid_redirect_uri',
    )
    expect(
      ((await (await register(idp, { grant_types: ['implicit'] })).json()) as { error: string }).error,
    ).toBe('invalid_client_metadata')
    expect(
      (
        (await (
          await register(idp, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' })
        ).json()) as { error: string }
      ).error,
    ).toBe('invalid_client_metadata')
    expect((await register(idp, [])).status).toBe(400)
    const off = await idpWith({ registration: false })
    expect((await register(off, { grant_types: ['client_credentials'] })).status).toBe(404)
    const doc = (await (await off.fetch(`${off.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >
    expect(doc.registration_endpoint).toBeUndefined()
  })
})

describe('claims', () => {
  it('releases standard claims by scope and custom claims always; overrides apply to the next issuances', async () => {
    const idp = await idpWith()
    idp.control.users.update('alice', { claims: { name: 'A', email: 'a@x', roles: ['admin'] } })
    const plain = await codeLogin(idp, { scope: 'openid' })
    expect(decodeJwt(String(plain.id_token)).payload).toMatchObject({ roles: ['admin'] })
    expect(decodeJwt(String(plain.id_token)).payload.name).toBeUndefined()
    idp.control.claims.override(
      { accessToken: { tenant: 't1' }, idToken: { sub: 'hijack', extra: 1 } },
      { times: 1 },
    )
    const overridden = await codeLogin(idp)
    expect(decodeJwt(String(overridden.access_token)).payload.tenant).toBe('t1')
    expect(decodeJwt(String(overridden.id_token)).payload).toMatchObject({ sub: 'alice', extra: 1 })
    const after = await codeLogin(idp)
    expect(decodeJwt(String(after.access_token)).payload.tenant).toBeUndefined()
  })
})
