/**
 * Resource indicators (RFC 8707): `resource` at authorization, token and refresh requests
 * (several allowed), validated, the access token's `aud` set from it, `invalid_target` where it
 * must be, and downscoping at refresh.
 */
import { describe, expect, it } from 'vitest'
import { codeFor, send } from './dpop-helpers.ts'
import { basic, decodeJwt, idpWith, pkce } from './helpers.ts'

const SVC = { authorization: basic('svc', 's3cret-value') }
const API = 'https://api.example/'
const FILES = 'https://files.example/v1'

/** URL-encoded parameters with `resource` repeated. */
function form(params: Record<string, string>, resources: readonly string[]): URLSearchParams {
  const out = new URLSearchParams(params)
  for (const resource of resources) out.append('resource', resource)
  return out
}

async function login(
  idp: Awaited<ReturnType<typeof idpWith>>,
  resources: readonly string[],
  atToken: readonly string[] = [],
) {
  const { code, verifier, redirectUri } = await codeForResources(idp, resources)
  return send(
    idp,
    '/token',
    form(
      {
        grant_type: 'authorization_code',
        client_id: 'cli',
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
      },
      atToken,
    ),
  )
}

/** `codeFor` takes one value per parameter; several resources go in by hand. */
async function codeForResources(idp: Awaited<ReturnType<typeof idpWith>>, resources: readonly string[]) {
  if (resources.length <= 1)
    return codeFor(idp, resources.length === 1 ? { resource: resources[0] as string } : {})
  const { verifier, challenge } = await pkce()
  const redirectUri = 'http://127.0.0.1:5555/callback'
  const url = new URL(`${idp.issuer}/authorize`)
  const params = form(
    {
      response_type: 'code',
      client_id: 'cli',
      redirect_uri: redirectUri,
      scope: 'openid offline_access',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    },
    resources,
  )
  url.search = params.toString()
  const response = await idp.fetch(url)
  const code = new URL(String(response.headers.get('location'))).searchParams.get('code')
  if (code === null) throw new Error(`no code: ${response.headers.get('location')}`)
  return { code, verifier, redirectUri }
}

describe('resource indicators (RFC 8707)', () => {
  it('sets aud from the resources of the authorization request, one or several', async () => {
    const idp = await idpWith()
    const one = await login(idp, [API])
    expect(decodeJwt(String(one.body.access_token)).payload.aud).toBe(API)
    const two = await login(idp, [API, FILES])
    expect(decodeJwt(String(two.body.access_token)).payload.aud).toEqual([API, FILES])
    const info = await send(idp, '/introspect', { token: String(two.body.access_token) }, SVC)
    expect(info.body.aud).toEqual([API, FILES])
  })

  it('narrows to the resources the token request names, within the grant, and refuses others', async () => {
    const idp = await idpWith()
    const narrowed = await login(idp, [API, FILES], [FILES])
    expect(decodeJwt(String(narrowed.body.access_token)).payload.aud).toBe(FILES)
    const outside = await login(idp, [API], ['https://other.example/'])
    expect(outside.status).toBe(400)
    expect(outside.body.error).toBe('invalid_target')
    expect(String(outside.body.error_description)).toContain('other.example')
  })

  it('downscopes at refresh to a subset, refuses a resource outside the grant, and keeps the grant', async () => {
    const idp = await idpWith({ rotateRefreshTokens: false })
    const tokens = await login(idp, [API, FILES])
    const refresh = {
      grant_type: 'refresh_token',
      client_id: 'cli',
      refresh_token: String(tokens.body.refresh_token),
    }
    const down = await send(idp, '/token', form(refresh, [API]))
    expect(down.status).toBe(200)
    expect(decodeJwt(String(down.body.access_token)).payload.aud).toBe(API)
    const wider = await send(idp, '/token', form(refresh, ['https://other.example/']))
    expect(wider.body.error).toBe('invalid_target')
    const all = await send(idp, '/token', refresh)
    expect(decodeJwt(String(all.body.access_token)).payload.aud).toEqual([API, FILES])
  })

  it('takes resources on the client credentials, password and device grants', async () => {
    const idp = await idpWith({ users: [{ sub: 'alice', password: 'alice' }] })
    const cc = await send(idp, '/token', form({ grant_type: 'client_credentials' }, [API, FILES]), SVC)
    expect(decodeJwt(String(cc.body.access_token)).payload.aud).toEqual([API, FILES])
    const pw = await send(
      idp,
      '/token',
      form({ grant_type: 'password', username: 'alice', password: 'alice' }, [API]),
      { authorization: basic('web', 'web-secret') },
    )
    expect(decodeJwt(String(pw.body.access_token)).payload.aud).toBe(API)
    const started = await send(idp, '/device_authorization', form({ client_id: 'cli' }, [FILES]))
    idp.control.devices.approve(String(started.body.user_code))
    const device = await send(idp, '/token', {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      client_id: 'cli',
      device_code: String(started.body.device_code),
    })
    expect(decodeJwt(String(device.body.access_token)).payload.aud).toBe(FILES)
  })

  it('refuses a relative URI, a fragment and an empty resource with invalid_target', async () => {
    const idp = await idpWith()
    for (const bad of ['/relative', 'api.example', 'https://api.example/#frag', '']) {
      const answer = await send(idp, '/token', form({ grant_type: 'client_credentials' }, [bad]), SVC)
      expect(answer.status).toBe(400)
      expect(answer.body.error).toBe('invalid_target')
    }
  })

  it('redirects invalid_target from the authorization endpoint', async () => {
    const idp = await idpWith()
    const url = new URL(`${idp.issuer}/authorize`)
    url.search = form(
      {
        response_type: 'code',
        client_id: 'cli',
        redirect_uri: 'http://127.0.0.1/callback',
        code_challenge: 'a'.repeat(43),
        code_challenge_method: 'S256',
      },
      ['https://api.example/#x'],
    ).toString()
    const response = await idp.fetch(url)
    expect(response.status).toBe(302)
    expect(new URL(String(response.headers.get('location'))).searchParams.get('error')).toBe('invalid_target')
  })

  it('allows only the resources a client (or the IdP) lists', async () => {
    const idp = await idpWith({ resources: [API] })
    idp.control.clients.add({ clientId: 'files', clientSecret: 'files-secret', resources: [FILES] })
    const svc = await send(idp, '/token', form({ grant_type: 'client_credentials' }, [FILES]), SVC)
    expect(svc.body.error).toBe('invalid_target')
    expect((await send(idp, '/token', form({ grant_type: 'client_credentials' }, [API]), SVC)).status).toBe(
      200,
    )
    const files = await send(idp, '/token', form({ grant_type: 'client_credentials' }, [FILES]), {
      authorization: basic('files', 'files-secret'),
    })
    expect(files.status).toBe(200)
    expect(() => idp.control.clients.add({ clientId: 'bad', resources: ['not a uri'] })).toThrow(
      /absolute URI/,
    )
  })

  it('accepts a resource with a query unless strict.resources is on', async () => {
    const withQuery = 'https://api.example/v1?tenant=a'
    const tolerant = await idpWith()
    expect(
      (await send(tolerant, '/token', form({ grant_type: 'client_credentials' }, [withQuery]), SVC)).status,
    ).toBe(200)
    const strict = await idpWith({ strict: { resources: true } })
    const refused = await send(strict, '/token', form({ grant_type: 'client_credentials' }, [withQuery]), SVC)
    expect(refused.body.error).toBe('invalid_target')
    expect(String(refused.body.error_description)).toContain('strict.resources')
  })

  it('still refuses other repeated parameters', async () => {
    const idp = await idpWith()
    const twice = new URLSearchParams([
      ['grant_type', 'client_credentials'],
      ['scope', 'openid'],
      ['scope', 'profile'],
    ])
    expect((await send(idp, '/token', twice, SVC)).body.error).toBe('invalid_request')
  })
})
