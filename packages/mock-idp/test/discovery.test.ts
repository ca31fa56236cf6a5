import { createLocalJWKSet, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { createMockIdp, MockIdpError } from '../src/index.ts'
import { idpWith, post } from './helpers.ts'

describe('discovery and JWKS', () => {
  it('serves both metadata documents with every endpoint and the issuer', async () => {
    const idp = await idpWith()
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const response = await idp.fetch(`${idp.issuer}${path}`)
      expect(response.status).toBe(200)
      const doc = (await response.json()) as Record<string, unknown>
      expect(doc.issuer).toBe('https://mock-idp.test')
      expect(doc.token_endpoint).toBe('https://mock-idp.test/token')
      expect(doc.device_authorization_endpoint).toBe('https://mock-idp.test/device_authorization')
      expect(doc.code_challenge_methods_supported).toEqual(['S256'])
      expect(doc.grant_types_supported).toEqual([
        'authorization_code',
        'urn:ietf:params:oauth:grant-type:device_code',
        'client_credentials',
        'password',
        'refresh_token',
      ])
      expect(doc.authorization_response_iss_parameter_supported).toBe(true)
    }
  })

  it('supports an issuer with a path, with RFC 8414 path insertion too', async () => {
    const idp = await createMockIdp({ issuer: 'https://idp.example/realms/test/' })
    expect(idp.issuer).toBe('https://idp.example/realms/test')
    const appended = await idp.fetch('https://idp.example/realms/test/.well-known/openid-configuration')
    expect(((await appended.json()) as { token_endpoint: string }).token_endpoint).toBe(
      'https://idp.example/realms/test/token',
    )
    const inserted = await idp.fetch('https://idp.example/.well-known/oauth-authorization-server/realms/test')
    expect(inserted.status).toBe(200)
    const outside = await idp.fetch('https://idp.example/token')
    expect(outside.status).toBe(404)
  })

  it('publishes a JWKS that verifies the tokens it signs, for each algorithm', async () => {
    for (const signingAlg of ['RS256', 'ES256', 'EdDSA'] as const) {
      const idp = await idpWith({ signingAlg })
      const jwks = (await (await idp.fetch(`${idp.issuer}/jwks`)).json()) as {
        keys: Array<Record<string, unknown>>
      }
      expect(jwks.keys).toHaveLength(1)
      expect(jwks.keys[0]?.alg).toBe(signingAlg)
      expect(jwks.keys[0]?.d).toBeUndefined()
      const response = await post(idp, '/token', {
        grant_type: 'client_credentials',
        client_id: 'svc',
        client_secret: 's3cret-value',
      })
      const { access_token } = (await response.json()) as { access_token: string }
      const { payload, protectedHeader } = await jwtVerify(access_token, createLocalJWKSet(jwks as never), {
        issuer: idp.issuer,
        typ: 'at+jwt',
      })
      expect(protectedHeader.alg).toBe(signingAlg)
      expect(payload.client_id).toBe('svc')
    }
  })

  it('answers unknown paths and wrong methods with JSON errors, never 5xx', async () => {
    const idp = await idpWith()
    const missing = await idp.fetch(`${idp.issuer}/nope`)
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: string }).error).toBe('invalid_request')
    const wrongMethod = await idp.fetch(`${idp.issuer}/token`)
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('allow')).toBe('POST')
    const postDiscovery = await idp.fetch(`${idp.issuer}/jwks`, { method: 'DELETE' })
    expect(postDiscovery.status).toBe(405)
  })

  it('rejects bad options with typed errors', async () => {
    const cases: Array<[unknown, string]> = [
      [{ issuer: 'not a url' }, 'ERR_INVALID_OPTION'],
      [{ issuer: 'ftp://x' }, 'ERR_INVALID_OPTION'],
      [{ signingAlg: 'HS256' }, 'ERR_INVALID_OPTION'],
      [{ users: [{ sub: '' }] }, 'ERR_INVALID_OPTION'],
      [{ clients: [{ clientId: 'x', redirectUris: ['/relative'] }] }, 'ERR_INVALID_OPTION'],
      [{ clients: [{ clientId: 'x', redirectUris: ['https://a/#frag'] }] }, 'ERR_INVALID_OPTION'],
      [{ clients: [{ clientId: 'x', requirePkce: false }] }, 'ERR_INVALID_OPTION'],
      [
        { clients: [{ clientId: 'x', tokenEndpointAuthMethod: 'client_secret_basic' }] },
        'ERR_INVALID_OPTION',
      ],
      [{ lifetimes: { accessTokenS: -1 } }, 'ERR_INVALID_OPTION'],
      [{ defaultUser: 'ghost' }, 'ERR_INVALID_OPTION'],
      [{ controlPrefix: 'no-slash' }, 'ERR_INVALID_OPTION'],
    ]
    for (const [options, code] of cases) {
      const error = await createMockIdp(options as never).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(MockIdpError)
      expect((error as MockIdpError).code).toBe(code)
      expect((error as MockIdpError).name).toBe('MockIdpError')
    }
  })
})

describe('CORS', () => {
  it('answers preflights and lets browsers read responses and challenges', async () => {
    const idp = await idpWith()
    const preflight = await idp.fetch(`${idp.issuer}/token`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173')
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization')
    const doc = await idp.fetch(`${idp.issuer}/.well-known/openid-configuration`, {
      headers: { origin: 'http://localhost:5173' },
    })
    expect(doc.headers.get('access-control-allow-origin')).toBe('*')
    const denied = await idp.fetch(`${idp.issuer}/userinfo`, { headers: { origin: 'http://localhost:5173' } })
    expect(denied.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate, DPoP-Nonce')
    const plain = await idp.fetch(`${idp.issuer}/jwks`)
    expect(plain.headers.get('access-control-allow-origin')).toBeNull()
  })
})
