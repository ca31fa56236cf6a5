/** OpenAPI patching, validated against the OpenAPI 3.0 schema, and RFC 9728 metadata followed with oauth4webapi. */
import type { MockIdp } from '@keyfob/mock-idp'
import { Validator } from '@seriousme/openapi-schema-validator'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { patchOpenApi } from '../src/index.ts'
import {
  API_KEY,
  AUDIENCE,
  call,
  gatewayFrom,
  type LoopbackServer,
  openapiDocument,
  startServer,
  testIdp,
  upstreamHandler,
} from './helpers.ts'

let upstream: LoopbackServer
let idp: MockIdp
beforeAll(async () => {
  upstream = await startServer(upstreamHandler)
  idp = await testIdp()
})
afterAll(async () => {
  await upstream.close()
})

type Operation = { security?: Record<string, string[]>[]; responses: Record<string, unknown> }
type Doc = {
  components: { securitySchemes: Record<string, Record<string, unknown>> }
  paths: Record<string, Record<string, Operation>>
}

async function expectValid(doc: unknown): Promise<void> {
  const result = await new Validator().validate(doc as Record<string, unknown>)
  expect(result.errors ?? []).toEqual([])
  expect(result.valid).toBe(true)
}

describe('OpenAPI patching', () => {
  it('API key + JWT (first-present): valid names, one scheme each, security on every non-public method, 401/403', async () => {
    const { gateway } = gatewayFrom(
      [
        '--upstream',
        upstream.url,
        '--mount',
        '/geoapi',
        '--api-key-env-prefix',
        'PYGEOAPI_KEY_',
        '--jwt-issuer',
        idp.issuer,
        '--jwt-audience',
        AUDIENCE,
        '--token-url',
        `${idp.issuer}/token`,
        '--combine',
        'first-present',
        '--scopes',
        'read',
      ],
      { env: { PYGEOAPI_KEY_GLOBAL: API_KEY } },
    )
    const res = await call(gateway, '/geoapi/openapi?f=json')
    expect(res.status).toBe(200)
    const doc = (await res.json()) as Doc
    await expectValid(doc)
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'ApiKey',
      'BearerJWT',
      'OAuth2ClientCredentials',
    ])
    for (const name of Object.keys(doc.components.securitySchemes)) expect(name).toMatch(/^[a-zA-Z0-9.\-_]+$/)
    expect(doc.components.securitySchemes.ApiKey).toEqual({ type: 'apiKey', in: 'header', name: 'X-API-KEY' })
    expect(doc.components.securitySchemes.BearerJWT).toEqual({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    })
    const items = doc.paths['/collections/{collectionId}/items'] as Record<string, Operation>
    for (const method of ['get', 'post', 'options', 'put', 'patch', 'delete', 'head']) {
      const op = items[method] as Operation
      expect(op.security).toEqual([{ ApiKey: [] }, { BearerJWT: [] }, { OAuth2ClientCredentials: ['read'] }])
      expect(Object.keys(op.responses)).toContain('401')
      expect(Object.keys(op.responses)).toContain('403')
    }
    for (const path of ['/', '/openapi', '/conformance']) {
      expect(doc.paths[path]?.get?.security).toBeUndefined()
    }
    expect(doc.paths['/collections']?.get?.security).toBeDefined()
  })

  it("combine: 'all' requires every scheme in one requirement; OIDC adds openIdConnect", async () => {
    const patched = patchOpenApi(openapiDocument(), {
      groups: [
        { ApiKey: { type: 'apiKey', in: 'header', name: 'X-API-KEY' } },
        {
          OpenIdConnect: {
            type: 'openIdConnect',
            openIdConnectUrl: 'https://idp.example/.well-known/openid-configuration',
          },
        },
      ],
      combine: 'all',
      scopes: ['read'],
    }) as unknown as Doc
    await expectValid(patched)
    expect(patched.paths['/collections']?.get?.security).toEqual([{ ApiKey: [], OpenIdConnect: ['read'] }])
  })

  it('HTML and non-JSON answers pass untouched; a bad scheme name is refused', async () => {
    const { gateway } = gatewayFrom(
      ['--upstream', upstream.url, '--mount', '/geoapi', '--api-key-env-prefix', 'PYGEOAPI_KEY_'],
      {
        env: { PYGEOAPI_KEY_GLOBAL: API_KEY },
      },
    )
    const html = await call(gateway, '/geoapi/openapi')
    expect(html.headers.get('content-type')).toBe('text/html')
    expect(await html.text()).toBe('<html><body>Swagger UI</body></html>')
    expect(() =>
      patchOpenApi(openapiDocument(), {
        groups: [{ 'pygeoapi http': { type: 'http', scheme: 'bearer' } }],
        combine: 'any',
      }),
    ).toThrow(TypeError)
  })
})

describe('RFC 9728 protected resource metadata', () => {
  it('is served at the path derived from the resource, named in the 401 challenge, and leads a client to a token', async () => {
    const resource = 'https://api.example/geoapi'
    const { gateway } = gatewayFrom(
      [
        '--upstream',
        upstream.url,
        '--mount',
        '/geoapi',
        '--jwt-issuer',
        idp.issuer,
        '--jwks-url',
        `${idp.issuer}/jwks`,
        '--jwt-audience',
        AUDIENCE,
        '--resource',
        resource,
        '--scopes',
        'read',
      ],
      { fetch: idp.fetch as unknown as typeof fetch },
    )
    // The gateway, reached as https://api.example.
    const toGateway = ((input: string | URL | Request, init?: RequestInit) =>
      Promise.resolve(gateway.fetch(new Request(input, init)))) as typeof fetch
    const refused = await toGateway('https://api.example/geoapi/collections')
    expect(refused.status).toBe(401)
    const challenge = refused.headers.get('www-authenticate') ?? ''
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1]
    expect(metadataUrl).toBe('https://api.example/.well-known/oauth-protected-resource/geoapi')

    const discovered = await oauth.processResourceDiscoveryResponse(
      new URL(resource),
      await oauth.resourceDiscoveryRequest(new URL(resource), { [oauth.customFetch]: toGateway as never }),
    )
    expect(discovered.resource).toBe(resource)
    expect(discovered.authorization_servers).toEqual([idp.issuer])
    expect(discovered.scopes_supported).toEqual(['read'])

    // Follow it: the authorization server's metadata, a client-credentials token, the protected call.
    const issuer = new URL(discovered.authorization_servers?.[0] as string)
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { [oauth.customFetch]: idp.fetch as never }),
    )
    const client = { client_id: 'svc' }
    const tokenResponse = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretPost('svc-secret-value'),
      new URLSearchParams({ scope: 'read' }),
      { [oauth.customFetch]: idp.fetch as never },
    )
    const { access_token } = await oauth.processClientCredentialsResponse(as, client, tokenResponse)
    const ok = await toGateway('https://api.example/geoapi/collections', {
      headers: { authorization: `Bearer ${access_token}` },
    })
    expect(ok.status).toBe(200)
  })
})
