/** The pygeoapi example in every mode: public paths, protected data, health outside the guard. */
import type { MockIdp } from '@keyfob/mock-idp'
import type { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  apiKeyMode,
  COLLECTIONS,
  cedarMode,
  combinedMode,
  jwtMode,
  oidcMode,
  opaMode,
} from '../examples/pygeoapi.ts'
import type { GuardEnv } from '../src/index.ts'
import {
  AUDIENCE,
  get,
  type LoopbackServer,
  RESOURCE_SERVER,
  SERVICE,
  startServer,
  testIdp,
} from './helpers.ts'

const KEY = 'pygeoapi-global-key-0123456789'
const ENV = { PYGEOAPI_KEY_GLOBAL: KEY }
let idp: MockIdp
let opa: LoopbackServer

/** A token for a user of `company` with `scope`, from the mock IdP. */
async function tokenFor(company: string, scope: string, opaque = false): Promise<string> {
  idp.control.claims.override({ accessToken: { company } })
  const { access_token } = await idp.control.tokens.issue({
    clientId: opaque ? 'opaque-svc' : SERVICE.clientId,
    sub: 'alice',
    scope,
  })
  return access_token
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

beforeAll(async () => {
  idp = await testIdp({
    clients: [
      SERVICE,
      RESOURCE_SERVER,
      { clientId: 'opaque-svc', clientSecret: 'opaque-secret-value', accessTokenFormat: 'opaque' },
    ],
  })
  // An OPA stand-in that evaluates the same rules as examples/policy.rego.
  const owners: Record<string, string> = { obs: 'acme', lakes: 'public' }
  opa = await startServer(async (request) => {
    if (new URL(request.url).pathname !== '/v1/data/httpapi/authz') return Response.json({}, { status: 404 })
    const { input } = (await request.json()) as {
      input: { request_method: string; request_path: string[]; company?: string; guard: { scopes: string[] } }
    }
    const [first, id, third] = input.request_path
    const owner = id === undefined ? undefined : owners[id]
    const allow =
      (input.request_method === 'GET' && input.request_path.length === 1 && first === 'collections') ||
      (input.request_method === 'GET' &&
        first === 'collections' &&
        owner !== undefined &&
        (owner === 'public' || owner === input.company)) ||
      (input.request_method === 'POST' &&
        first === 'collections' &&
        third === 'items' &&
        owner === input.company &&
        input.guard.scopes.includes('features:write'))
    return Response.json({ result: allow })
  })
})

afterAll(async () => {
  await opa.close()
})

async function expectPublicSurface(app: Hono<GuardEnv>): Promise<void> {
  for (const path of ['/healthz', '/geoapi', '/geoapi/openapi', '/geoapi/conformance']) {
    expect({ path, status: (await get(app, path)).status }).toEqual({ path, status: 200 })
  }
  for (const path of [
    '/geoapi/collections',
    '/geoapi/collections/obs/items',
    '/geoapi/openapi-evil',
    '/geoapi/',
  ]) {
    expect({ path, status: (await get(app, path)).status }).toEqual({ path, status: 401 })
  }
  expect((await get(app, '/geoapi/openapi', {}, 'POST')).status).toBe(401)
  expect(
    (
      await get(
        app,
        '/geoapi/collections',
        { origin: 'https://x.example', 'access-control-request-method': 'GET' },
        'OPTIONS',
      )
    ).status,
  ).toBe(401)
}

describe('examples/pygeoapi.ts', () => {
  it('API-key mode', async () => {
    const app = apiKeyMode(ENV)
    await expectPublicSurface(app)
    const items = await get(app, '/geoapi/collections/obs/items', { 'X-API-KEY': KEY })
    expect(items.status).toBe(200)
    expect((await items.json()).requestedBy).toBe('GLOBAL')
    expect((await get(app, '/geoapi/collections', { 'X-API-KEY': 'wrong-key-0123456789' })).status).toBe(401)
    // An API key carries no scopes: writing needs features:write.
    expect((await get(app, '/geoapi/collections/obs/items', { 'X-API-KEY': KEY }, 'POST')).status).toBe(403)
  })

  it('JWKS mode', async () => {
    const app = jwtMode({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch })
    await expectPublicSurface(app)
    const reader = await tokenFor('acme', 'read')
    const writer = await tokenFor('acme', 'read features:write')
    const list = await get(app, '/geoapi/collections', bearer(reader))
    expect(list.status).toBe(200)
    expect((await list.json()).collections.map((c: { id: string }) => c.id)).toEqual(Object.keys(COLLECTIONS))
    expect((await (await get(app, '/geoapi/collections/obs/items', bearer(reader))).json()).requestedBy).toBe(
      'alice',
    )
    const denied = await get(app, '/geoapi/collections/obs/items', bearer(reader), 'POST')
    expect(denied.status).toBe(403)
    expect(denied.headers.get('www-authenticate')).toContain('scope="features:write"')
    expect((await get(app, '/geoapi/collections/obs/items', bearer(writer), 'POST')).status).toBe(201)
  })

  it('OIDC mode (JWT and opaque tokens)', async () => {
    const app = oidcMode({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch, ...RESOURCE_SERVER })
    await expectPublicSurface(app)
    expect((await get(app, '/geoapi/collections', bearer(await tokenFor('acme', 'read')))).status).toBe(200)
    expect((await get(app, '/geoapi/collections', bearer(await tokenFor('acme', 'read', true)))).status).toBe(
      200,
    )
    expect((await get(app, '/geoapi/collections', bearer('opaque-but-unknown'))).status).toBe(401)
  })

  it('combined mode: a token or an API key', async () => {
    const app = combinedMode({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch }, ENV)
    await expectPublicSurface(app)
    expect((await get(app, '/geoapi/collections', { 'X-API-KEY': KEY })).status).toBe(200)
    expect((await get(app, '/geoapi/collections', bearer(await tokenFor('acme', 'read')))).status).toBe(200)
    const none = await get(app, '/geoapi/collections')
    expect(none.headers.get('www-authenticate')).toBe('Bearer, ApiKey header="X-API-KEY"')
  })

  for (const [name, make] of [
    [
      'OPA mode (stand-in on 127.0.0.1)',
      async () => opaMode({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch, opaUrl: opa.url }),
    ],
    [
      'Cedar mode (in process)',
      () => cedarMode({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch }),
    ],
  ] as const) {
    it(`${name}: per-company collections, writes with features:write`, async () => {
      const app = await make()
      await expectPublicSurface(app)
      const acme = await tokenFor('acme', 'read')
      const acmeWriter = await tokenFor('acme', 'read features:write')
      const globex = await tokenFor('globex', 'read features:write')
      const cases: [string, string, string, number][] = [
        ['acme lists', 'GET', '/geoapi/collections', 200],
        ['acme reads its own', 'GET', '/geoapi/collections/obs/items', 200],
        ['acme reads an open one', 'GET', '/geoapi/collections/lakes', 200],
        ['acme cannot write without the scope', 'POST', '/geoapi/collections/obs/items', 403],
        ['globex lists', 'GET', '/geoapi/collections', 200],
        ['globex cannot read acme data', 'GET', '/geoapi/collections/obs/items', 403],
        ['globex reads an open one', 'GET', '/geoapi/collections/lakes/items', 200],
        ['globex cannot write acme data', 'POST', '/geoapi/collections/obs/items', 403],
      ]
      for (const [label, method, path, status] of cases) {
        const token = label.startsWith('globex') ? globex : acme
        const response = await get(app, path, bearer(token), method)
        expect({ label, status: response.status }).toEqual({ label, status })
      }
      expect((await get(app, '/geoapi/collections/obs/items', bearer(acmeWriter), 'POST')).status).toBe(201)
    })
  }

  it('OPA mode answers 503 while OPA is down, and the public surface keeps working', async () => {
    const down = await startServer(() => new Response('unused'))
    const url = down.url
    await down.close()
    const app = opaMode({ issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch, opaUrl: url })
    expect((await get(app, '/geoapi/collections', bearer(await tokenFor('acme', 'read')))).status).toBe(503)
    expect((await get(app, '/geoapi/openapi')).status).toBe(200)
  })
})
