/**
 * Pushed authorization requests (RFC 9126): the endpoint, the single-use, short-lived,
 * client-bound `request_uri`, and per-client and IdP-wide `require_pushed_authorization_requests`.
 */
import { describe, expect, it } from 'vitest'
import { dpopKey, proof, send } from './dpop-helpers.ts'
import { basic, decodeJwt, idpWith, pkce } from './helpers.ts'

const REDIRECT = 'http://127.0.0.1:5555/callback'

async function pushed(extra: Record<string, string> = {}) {
  const { verifier, challenge } = await pkce()
  return {
    verifier,
    params: {
      response_type: 'code',
      client_id: 'cli',
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st-1',
      ...extra,
    },
  }
}

/** GET /authorize with `query`; answers status and the redirect's parameters (or the JSON body). */
async function authorizeWith(idp: Awaited<ReturnType<typeof idpWith>>, query: Record<string, string>) {
  const url = new URL(`${idp.issuer}/authorize`)
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
  const response = await idp.fetch(url)
  const location = response.headers.get('location')
  return {
    status: response.status,
    query: location === null ? undefined : new URL(location).searchParams,
    body: location === null ? ((await response.json()) as Record<string, unknown>) : undefined,
  }
}

describe('PAR endpoint (RFC 9126)', () => {
  it('takes a pushed request and answers a request_uri that /authorize turns into a code, once', async () => {
    const idp = await idpWith()
    const { verifier, params } = await pushed()
    const answer = await send(idp, '/par', params)
    expect(answer.status).toBe(201)
    expect(String(answer.body.request_uri)).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{20,}$/)
    expect(answer.body.expires_in).toBe(60)
    const requestUri = String(answer.body.request_uri)
    // Only client_id and request_uri travel through the browser; the rest comes from the push.
    const first = await authorizeWith(idp, { client_id: 'cli', request_uri: requestUri })
    expect(first.status).toBe(302)
    expect(first.query?.get('state')).toBe('st-1')
    const code = String(first.query?.get('code'))
    const tokens = await send(idp, '/token', {
      grant_type: 'authorization_code',
      client_id: 'cli',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    })
    expect(tokens.status).toBe(200)
    const again = await authorizeWith(idp, { client_id: 'cli', request_uri: requestUri })
    expect(again.status).toBe(400)
    expect(again.body?.error).toBe('invalid_request_uri')
    const [entry] = idp.control.journal.entries({ endpoint: 'par' })
    expect(entry?.params.code_challenge_method).toBe('S256')
  })

  it('expires a request_uri on the IdP clock (lifetimes.requestUriS)', async () => {
    const idp = await idpWith({ lifetimes: { requestUriS: 10 } })
    const answer = await send(idp, '/par', (await pushed()).params)
    expect(answer.body.expires_in).toBe(10)
    idp.control.clock.advance(10_001)
    const late = await authorizeWith(idp, { client_id: 'cli', request_uri: String(answer.body.request_uri) })
    expect(late.status).toBe(400)
    expect(late.body?.error).toBe('invalid_request_uri')
    expect(String(late.body?.error_description)).toContain('expired')
  })

  it('binds a request_uri to the client that pushed it, and refuses made-up ones', async () => {
    const idp = await idpWith()
    idp.control.clients.add({ clientId: 'other', redirectUris: [REDIRECT] })
    const answer = await send(idp, '/par', (await pushed()).params)
    const requestUri = String(answer.body.request_uri)
    const stolen = await authorizeWith(idp, { client_id: 'other', request_uri: requestUri })
    expect(stolen.body?.error).toBe('invalid_request_uri')
    // The rightful client can still use it.
    expect((await authorizeWith(idp, { client_id: 'cli', request_uri: requestUri })).status).toBe(302)
    const foreign = await authorizeWith(idp, { client_id: 'cli', request_uri: 'https://evil.example/req' })
    expect(foreign.body?.error).toBe('invalid_request_uri')
  })

  it('authenticates confidential clients as the token endpoint does, and checks the request', async () => {
    const idp = await idpWith()
    const { params } = await pushed({ client_id: 'web', redirect_uri: 'https://app.example/cb' })
    const { client_id: _id, ...withoutId } = params
    const unauthenticated = await send(idp, '/par', params)
    expect(unauthenticated.status).toBe(401)
    expect(unauthenticated.body.error).toBe('invalid_client')
    const ok = await send(idp, '/par', withoutId, { authorization: basic('web', 'web-secret') })
    expect(ok.status).toBe(201)
    const wrongRedirect = await send(
      idp,
      '/par',
      { ...withoutId, redirect_uri: 'https://evil.example/cb' },
      {
        authorization: basic('web', 'web-secret'),
      },
    )
    expect(wrongRedirect.body.error).toBe('invalid_request')
    const { params: publicParams } = await pushed()
    const noPkce = await send(idp, '/par', { ...publicParams, code_challenge: '', code_challenge_method: '' })
    expect(noPkce.status).toBe(400)
    expect(noPkce.body.error).toBe('invalid_request')
    const nested = await send(idp, '/par', {
      ...publicParams,
      request_uri: 'urn:ietf:params:oauth:request_uri:x',
    })
    expect(nested.body.error).toBe('invalid_request')
    const badType = await send(idp, '/par', { ...publicParams, response_type: 'token' })
    expect(badType.body.error).toBe('unsupported_response_type')
    const otherId = await send(
      idp,
      '/par',
      { ...withoutId, client_id: 'cli' },
      { authorization: basic('web', 'web-secret') },
    )
    expect(otherId.body.error).toBe('invalid_request')
  })

  it('binds the code to the DPoP key of a proof sent with the push (RFC 9449 §10.1)', async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const { verifier, params } = await pushed()
    const answer = await send(idp, '/par', params, {
      dpop: await proof(idp, key, { htu: `${idp.issuer}/par` }),
    })
    expect(answer.status).toBe(201)
    const redirect = await authorizeWith(idp, {
      client_id: 'cli',
      request_uri: String(answer.body.request_uri),
    })
    const exchange = {
      grant_type: 'authorization_code',
      client_id: 'cli',
      code: String(redirect.query?.get('code')),
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    }
    const withOther = await send(idp, '/token', exchange, { dpop: await proof(idp, await dpopKey()) })
    expect(withOther.body.error).toBe('invalid_grant')
    const withKey = await send(idp, '/token', exchange, { dpop: await proof(idp, key) })
    expect(withKey.status).toBe(200)
    expect(decodeJwt(String(withKey.body.access_token)).payload.cnf).toEqual({ jkt: key.jkt })
    const mismatch = await send(
      idp,
      '/par',
      { ...(await pushed()).params, dpop_jkt: (await dpopKey()).jkt },
      {
        dpop: await proof(idp, key, { htu: `${idp.issuer}/par` }),
      },
    )
    expect(mismatch.body.error).toBe('invalid_request')
    expect(String(mismatch.body.error_description)).toContain('dpop_jkt')
  })
})

describe('require_pushed_authorization_requests', () => {
  it('is advertised in discovery with the endpoint', async () => {
    const idp = await idpWith({ requirePushedAuthorizationRequests: true })
    const doc = (await (
      await idp.fetch(`${idp.issuer}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>
    expect(doc.pushed_authorization_request_endpoint).toBe(`${idp.issuer}/par`)
    expect(doc.require_pushed_authorization_requests).toBe(true)
    const relaxed = await idpWith()
    const plain = (await (
      await relaxed.fetch(`${relaxed.issuer}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>
    expect(plain.require_pushed_authorization_requests).toBe(false)
  })

  it('refuses a plain authorization request, with a redirect naming the PAR endpoint, IdP-wide or per client', async () => {
    for (const options of [
      { requirePushedAuthorizationRequests: true },
      { clients: [{ clientId: 'cli', redirectUris: [REDIRECT], requirePushedAuthorizationRequests: true }] },
    ]) {
      const idp = await idpWith(options)
      const plain = await authorizeWith(idp, (await pushed()).params)
      expect(plain.status).toBe(302)
      expect(plain.query?.get('error')).toBe('invalid_request')
      expect(plain.query?.get('error_description')).toContain('/par')
      const answer = await send(idp, '/par', (await pushed()).params)
      expect(
        (await authorizeWith(idp, { client_id: 'cli', request_uri: String(answer.body.request_uri) })).status,
      ).toBe(302)
    }
  })

  it('lets a client opt out of the IdP-wide requirement, and registration set it', async () => {
    const idp = await idpWith({
      requirePushedAuthorizationRequests: true,
      clients: [{ clientId: 'cli', redirectUris: [REDIRECT], requirePushedAuthorizationRequests: false }],
    })
    expect((await authorizeWith(idp, (await pushed()).params)).query?.get('code')).toBeTruthy()
    const registered = await idp.fetch(`${idp.issuer}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        require_pushed_authorization_requests: true,
        dpop_bound_access_tokens: true,
      }),
    })
    const body = (await registered.json()) as Record<string, unknown>
    expect(body).toMatchObject({
      require_pushed_authorization_requests: true,
      dpop_bound_access_tokens: true,
    })
    const client = idp.control.clients.get(String(body.client_id))
    expect(client).toMatchObject({ requirePushedAuthorizationRequests: true, dpopBoundAccessTokens: true })
  })
})
