import { describe, expect, it } from 'vitest'
import { authorize, basic, codeLogin, decodeJwt, idpWith, pkce, post, postJson } from './helpers.ts'

const REDIRECT = 'http://127.0.0.1:5555/callback'

function exchangeCode(
  idp: Awaited<ReturnType<typeof idpWith>>,
  clientId: string,
  code: string | null,
  verifier: string,
) {
  return postJson(idp, '/token', {
    grant_type: 'authorization_code',
    client_id: clientId,
    code: code ?? '',
    redirect_uri: REDIRECT,
    code_verifier: verifier,
  })
}

async function start(extra: Record<string, string> = {}) {
  const idp = await idpWith()
  const { verifier, challenge } = await pkce()
  const base = {
    response_type: 'code',
    client_id: 'cli',
    redirect_uri: REDIRECT,
    scope: 'openid profile',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'xyz',
    nonce: 'nonce-1',
    ...extra,
  }
  return { idp, verifier, challenge, base }
}

describe('authorization code + PKCE', () => {
  it('logs the default user in headlessly, echoes state, adds iss, and issues ID + access + refresh tokens', async () => {
    const { idp, verifier, base } = await start()
    const q = await authorize(idp, base)
    expect(q.get('state')).toBe('xyz')
    expect(q.get('iss')).toBe(idp.issuer)
    const { status, headers, body } = await exchangeCode(idp, 'cli', q.get('code'), verifier)
    expect(status).toBe(200)
    expect(headers.get('cache-control')).toBe('no-store')
    expect(body.token_type).toBe('Bearer')
    expect(typeof body.refresh_token).toBe('string')
    const id = decodeJwt(String(body.id_token)).payload
    expect(id).toMatchObject({
      iss: idp.issuer,
      sub: 'alice',
      aud: 'cli',
      azp: 'cli',
      nonce: 'nonce-1',
      name: 'Alice Example',
    })
    expect(id.email).toBeUndefined() // email scope not asked
    const at = decodeJwt(String(body.access_token))
    expect(at.header.typ).toBe('at+jwt')
    expect(at.payload).toMatchObject({ sub: 'alice', client_id: 'cli', scope: 'openid profile' })
  })

  it('picks the user named by login_hint, or queued by the control plane', async () => {
    const { idp } = await start()
    idp.control.users.add({ sub: 'bob', username: 'bobby', claims: { name: 'Bob' } })
    const hinted = await codeLogin(idp, { login_hint: 'bobby' })
    expect(decodeJwt(String(hinted.id_token)).payload.sub).toBe('bob')
    idp.control.login.next('bob')
    const queued = await codeLogin(idp)
    expect(decodeJwt(String(queued.id_token)).payload.sub).toBe('bob')
    const unknown = await authorize(idp, {
      response_type: 'code',
      client_id: 'cli',
      redirect_uri: REDIRECT,
      code_challenge: (await pkce()).challenge,
      code_challenge_method: 'S256',
      login_hint: 'nobody',
    })
    expect(unknown.get('error')).toBe('access_denied')
  })

  it('matches redirect URIs exactly, with any port only for loopback IPs (RFC 8252 §7.3)', async () => {
    const { idp, base } = await start()
    expect(
      (await authorize(idp, { ...base, redirect_uri: 'http://127.0.0.1:61234/callback' })).get('code'),
    ).toBeTruthy()
    expect(
      (await authorize(idp, { ...base, redirect_uri: 'https://app.example/cb' })).get('code'),
    ).toBeTruthy()
    for (const bad of [
      'http://127.0.0.1:5555/callback/extra',
      'http://127.0.0.1:5555/other',
      'https://app.example:8443/cb',
      'https://app.example/cb?x=1',
      'http://localhost:5555/callback',
      'https://evil.example/cb',
    ]) {
      const url = new URL(`${idp.issuer}/authorize`)
      for (const [k, v] of Object.entries({ ...base, redirect_uri: bad })) url.searchParams.set(k, v)
      const response = await idp.fetch(url)
      expect(response.status).toBe(400) // never a redirect to an unregistered URI
      expect(((await response.json()) as { error: string }).error).toBe('invalid_request')
    }
  })

  it('refuses unknown clients without redirecting', async () => {
    const { idp, base } = await start()
    const url = new URL(`${idp.issuer}/authorize`)
    for (const [k, v] of Object.entries({ ...base, client_id: 'ghost' })) url.searchParams.set(k, v)
    const response = await idp.fetch(url)
    expect(response.status).toBe(400)
  })

  it('requires PKCE from public clients and refuses plain unless allowed', async () => {
    const { idp, base } = await start()
    const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = base
    expect((await authorize(idp, noPkce)).get('error')).toBe('invalid_request')
    expect((await authorize(idp, { ...base, code_challenge_method: 'plain' })).get('error')).toBe(
      'invalid_request',
    )
    const { code_challenge_method: _m2, ...defaultPlain } = base
    expect((await authorize(idp, defaultPlain)).get('error')).toBe('invalid_request')
    expect((await authorize(idp, { ...base, code_challenge: 'short' })).get('error')).toBe('invalid_request')
    idp.control.clients.add({ clientId: 'legacy', redirectUris: [REDIRECT], allowPlainPkce: true })
    const verifier = 'a'.repeat(50)
    const q = await authorize(idp, {
      ...base,
      client_id: 'legacy',
      code_challenge: verifier,
      code_challenge_method: 'plain',
    })
    expect((await exchangeCode(idp, 'legacy', q.get('code'), verifier)).status).toBe(200)
  })

  it('redirects with the right errors for bad requests', async () => {
    const { idp, base } = await start()
    expect((await authorize(idp, { ...base, response_type: 'token' })).get('error')).toBe(
      'unsupported_response_type',
    )
    // An unknown scope is dropped by default (RFC 6749 §3.3), refused under strict.scopes.
    expect((await authorize(idp, { ...base, scope: 'openid admin' })).get('code')).toBeTruthy()
    const strict = await idpWith({ strict: { scopes: true } })
    const refused = await authorize(strict, { ...base, scope: 'openid admin' })
    expect(refused.get('error')).toBe('invalid_scope')
    expect(refused.get('error_description')).toContain('strict.scopes')
    expect((await authorize(idp, { ...base, response_mode: 'fragment' })).get('error')).toBe(
      'invalid_request',
    )
    const denied = await authorize(idp, { ...base, prompt: 'none login' })
    expect(denied.get('error')).toBe('login_required')
    expect(denied.get('state')).toBe('xyz')
  })

  it('rejects a wrong verifier, a wrong redirect_uri and an expired code with invalid_grant', async () => {
    const { idp, verifier, base } = await start()
    const exchange = async (overrides: Record<string, string>) => {
      const q = await authorize(idp, base)
      return postJson(idp, '/token', {
        grant_type: 'authorization_code',
        client_id: 'cli',
        code: q.get('code') ?? '',
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        ...overrides,
      })
    }
    expect((await exchange({ code_verifier: (await pkce()).verifier })).body.error).toBe('invalid_grant')
    expect((await exchange({ redirect_uri: 'http://127.0.0.1:5556/callback' })).body.error).toBe(
      'invalid_grant',
    )
    expect((await exchange({ code: 'made-up' })).body.error).toBe('invalid_grant')
    const q = await authorize(idp, base)
    idp.control.clock.advance(61_000)
    const late = await exchangeCode(idp, 'cli', q.get('code'), verifier)
    expect(late.body).toMatchObject({
      error: 'invalid_grant',
      error_description: 'the authorization code has expired',
    })
  })

  it('treats a replayed code as an attack: invalid_grant, and the tokens it issued are revoked', async () => {
    const { idp, verifier, base } = await start()
    const q = await authorize(idp, base)
    const params = {
      grant_type: 'authorization_code',
      client_id: 'cli',
      code: q.get('code') ?? '',
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    }
    const first = await postJson(idp, '/token', params)
    expect(first.status).toBe(200)
    const replay = await postJson(idp, '/token', params)
    expect(replay.body.error).toBe('invalid_grant')
    const userinfo = await idp.fetch(`${idp.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${first.body.access_token}` },
    })
    expect(userinfo.status).toBe(401)
    const refresh = await postJson(idp, '/token', {
      grant_type: 'refresh_token',
      client_id: 'cli',
      refresh_token: String(first.body.refresh_token),
    })
    expect(refresh.body.error).toBe('invalid_grant')
  })

  it('lets a confidential client skip PKCE but still checks its secret', async () => {
    const idp = await idpWith()
    const q = await authorize(idp, {
      response_type: 'code',
      client_id: 'web',
      redirect_uri: 'https://app.example/cb',
      scope: 'openid',
    })
    const wrong = await post(
      idp,
      '/token',
      { grant_type: 'authorization_code', code: q.get('code') ?? '', redirect_uri: 'https://app.example/cb' },
      { authorization: basic('web', 'nope') },
    )
    expect(wrong.status).toBe(401)
    const q2 = await authorize(idp, {
      response_type: 'code',
      client_id: 'web',
      redirect_uri: 'https://app.example/cb',
      scope: 'openid',
    })
    const ok = await postJson(
      idp,
      '/token',
      {
        grant_type: 'authorization_code',
        code: q2.get('code') ?? '',
        redirect_uri: 'https://app.example/cb',
      },
      { authorization: basic('web', 'web-secret') },
    )
    expect(ok.status).toBe(200)
  })

  it('shows a login page for prompt=login and completes after a correct password', async () => {
    const { idp, verifier, base } = await start()
    const url = new URL(`${idp.issuer}/authorize`)
    for (const [k, v] of Object.entries({ ...base, prompt: 'login' })) url.searchParams.set(k, v)
    const pageResponse = await idp.fetch(url)
    expect(pageResponse.status).toBe(200)
    expect(pageResponse.headers.get('content-type')).toContain('text/html')
    const html = await pageResponse.text()
    const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1] ?? ''
    const wrong = await post(idp, '/login', { request_id: requestId, username: 'alice', password: 'bad' })
    expect(wrong.status).toBe(401)
    expect(await wrong.text()).toContain('Wrong username or password')
    const right = await post(idp, '/login', { request_id: requestId, username: 'alice', password: 'alice' })
    expect(right.status).toBe(302)
    const q = new URL(right.headers.get('location') ?? '').searchParams
    expect(q.get('state')).toBe('xyz')
    expect((await exchangeCode(idp, 'cli', q.get('code'), verifier)).status).toBe(200)
    const again = await post(idp, '/login', { request_id: requestId, username: 'alice', password: 'alice' })
    expect(again.status).toBe(400)
  })

  it("the login page's CSP lets its form redirect to the client's redirect URI, nowhere else", async () => {
    const idp = await idpWith({ login: 'form' })
    idp.control.clients.add({ clientId: 'app', redirectUris: [REDIRECT, 'com.example.app:/cb'] })
    const csp = async (redirectUri: string) => {
      const url = new URL(`${idp.issuer}/authorize`)
      for (const [k, v] of Object.entries({
        response_type: 'code',
        client_id: 'app',
        redirect_uri: redirectUri,
        code_challenge: (await pkce()).challenge,
        code_challenge_method: 'S256',
      })) {
        url.searchParams.set(k, v)
      }
      return (await idp.fetch(url)).headers.get('content-security-policy') ?? ''
    }
    expect(await csp(REDIRECT)).toContain(`form-action 'self' ${new URL(REDIRECT).origin};`)
    expect(await csp('com.example.app:/cb')).toContain("form-action 'self' com.example.app:;")
  })

  it('escapes everything it echoes into HTML', async () => {
    const idp = await idpWith({ login: 'form' })
    idp.control.clients.add({
      clientId: 'x',
      clientName: '<script>alert(1)</script>',
      redirectUris: [REDIRECT],
    })
    const url = new URL(`${idp.issuer}/authorize`)
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: 'x',
      redirect_uri: REDIRECT,
      code_challenge: (await pkce()).challenge,
      code_challenge_method: 'S256',
    })) {
      url.searchParams.set(k, v)
    }
    const html = await (await idp.fetch(url)).text()
    expect(html).not.toContain('<script>')
    expect(html).toContain('&lt;script&gt;')
  })
})
