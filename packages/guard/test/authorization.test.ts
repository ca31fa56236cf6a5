/** requireScopes, requireClaims, policy(): functions, OPA over real HTTP, Cedar in process. */
import type { MockIdp } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cedarPolicy } from '../src/cedar.ts'
import {
  apiKeyAuth,
  GuardError,
  jwtAuth,
  opaPolicy,
  policy,
  requireClaims,
  requireScopes,
} from '../src/index.ts'
import {
  AUDIENCE,
  accessToken,
  get,
  type LoopbackServer,
  protectedApp,
  recorder,
  signed,
  sleep,
  startServer,
  testIdp,
  withToken,
} from './helpers.ts'

let idp: MockIdp
const jwt = () =>
  jwtAuth({ jwksUrl: `${idp.issuer}/jwks`, issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch })
const KEY = 'reader-key-0123456789abcdef'

beforeAll(async () => {
  idp = await testIdp()
})

describe('requireScopes', () => {
  it('lets a token with every scope through and answers 403 insufficient_scope naming the scopes otherwise', async () => {
    const app = protectedApp(jwt(), requireScopes(['read', 'features:write']))
    expect(
      (await withToken(app, await accessToken(idp, { scope: 'read features:write openid' }))).status,
    ).toBe(200)
    const response = await withToken(app, await accessToken(idp, { scope: 'read' }))
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_scope", error_description="this request needs the scopes: read features:write", scope="read features:write"',
    )
    expect(await response.json()).toEqual({
      error: 'insufficient_scope',
      error_description: 'this request needs the scopes: read features:write',
      scope: 'read features:write',
    })
  })

  it("mode 'any' accepts one of them; scp arrays count as scopes", async () => {
    const app = protectedApp(jwt(), requireScopes(['write', 'admin'], { mode: 'any' }))
    expect(
      (await withToken(app, await signed(idp, { scope: undefined, scp: ['read', 'write'] }))).status,
    ).toBe(200)
    expect((await withToken(app, await signed(idp, { scope: 'read' }))).status).toBe(403)
  })

  it('works with API-key scopes (ApiKey challenge)', async () => {
    const app = protectedApp(
      apiKeyAuth({ keys: [{ id: 'reader', key: KEY, scopes: ['read'] }] }),
      requireScopes('write'),
    )
    const response = await get(app, '/', { 'x-api-key': KEY })
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toMatch(/^ApiKey error="insufficient_scope"/)
  })

  it('a request that was never authenticated (a public path) gets 401, not a pass', async () => {
    const app = protectedApp(apiKeyAuth({ keys: [KEY], publicPaths: ['/open'] }), requireScopes('read'))
    const response = await get(app, '/open')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer')
  })

  it('refuses bad scope lists at startup', () => {
    expect(() => requireScopes([])).toThrow(GuardError)
    expect(() => requireScopes('a b')).toThrow(GuardError)
    expect(() => requireScopes('x', { mode: 'some' as never })).toThrow(GuardError)
  })
})

describe('requireClaims', () => {
  it('checks equality, array membership, accepted values and predicates; 403 otherwise', async () => {
    const app = protectedApp(
      jwt(),
      requireClaims({
        company: 'acme',
        roles: ['editor', 'admin'],
        email_verified: (v) => v === true,
      }),
    )
    const good = await signed(idp, { company: 'acme', roles: ['viewer', 'editor'], email_verified: true })
    expect((await withToken(app, good)).status).toBe(200)
    for (const claims of [
      { company: 'evil', roles: ['editor'], email_verified: true },
      { company: 'acme', roles: ['viewer'], email_verified: true },
      { company: 'acme', roles: ['editor'], email_verified: 'true' },
      { roles: ['editor'], email_verified: true },
    ]) {
      const response = await withToken(app, await signed(idp, claims))
      expect(response.status).toBe(403)
      expect((await response.json()).error).toBe('insufficient_scope')
    }
  })

  it('a throwing predicate is a deny, not a 500', async () => {
    const app = protectedApp(
      jwt(),
      requireClaims({
        sub: () => {
          throw new Error('boom')
        },
      }),
    )
    expect((await withToken(app, await accessToken(idp))).status).toBe(403)
  })
})

describe('policy() with a function', () => {
  it('allows, denies (403) and fails closed (503) when the engine throws', async () => {
    const log = recorder()
    const app = protectedApp(
      jwt(),
      policy(
        ({ method, segments }) => {
          if (segments[0] === 'boom') throw new Error('engine exploded')
          return method === 'GET'
        },
        { onEvent: log.onEvent },
      ),
    )
    const token = await accessToken(idp)
    expect((await withToken(app, token, '/collections')).status).toBe(200)
    const denied = await get(app, '/collections', { authorization: `Bearer ${token}` }, 'DELETE')
    expect(denied.status).toBe(403)
    expect(denied.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
    const broken = await withToken(app, token, '/boom')
    expect(broken.status).toBe(503)
    expect(broken.headers.get('retry-after')).toBe('5')
    expect(log.events.map((e) => e.reason)).toEqual(['ok', 'policy_deny', 'policy_unavailable'])
  })
})

describe('policy(opaPolicy()) against an OPA stand-in on 127.0.0.1', () => {
  let opa: LoopbackServer
  const seen: { path: string; method: string; body: { input: Record<string, unknown> } }[] = []
  let mode: 'policy' | 'undefined' | 'error' | 'slow' | 'garbage' = 'policy'

  beforeAll(async () => {
    // Implements examples/policy.rego: GET for "read" scope holders, writes only with "write".
    opa = await startServer(async (request) => {
      const body = (await request.json()) as { input: Record<string, unknown> }
      seen.push({ path: new URL(request.url).pathname, method: request.method, body })
      if (mode === 'undefined') return Response.json({ decision_id: 'd-1' })
      if (mode === 'error') return Response.json({ code: 'internal_error' }, { status: 500 })
      if (mode === 'garbage') return new Response('<html>', { status: 200 })
      if (mode === 'slow') await sleep(300)
      const guardBlock = body.input.guard as { scopes: string[] }
      const method = body.input.request_method
      const allow =
        (method === 'GET' && guardBlock.scopes.includes('read')) ||
        (method === 'POST' && guardBlock.scopes.includes('write'))
      return Response.json({
        result: { allow, reason: allow ? 'scope ok' : 'scope missing' },
        decision_id: 'd-2',
      })
    })
  })
  afterAll(async () => {
    await opa.close()
  })

  const app = (options: Partial<Parameters<typeof opaPolicy>[0]> = {}) =>
    protectedApp(
      jwt(),
      // A timeout that a loaded CI machine meets; the "too slow" case below sets its own.
      policy(opaPolicy({ url: opa.url, path: 'httpapi.authz', timeoutMs: 2000, ...options })),
    )

  it('allows and denies per the policy, posting fastgeoapi’s input document to /v1/data/<path>', async () => {
    mode = 'policy'
    seen.length = 0
    idp.control.claims.override({ accessToken: { company: 'acme' } })
    const token = await accessToken(idp, { scope: 'read', sub: 'alice' })
    const allowed = await withToken(app(), token, '/geoapi/collections/obs/items?limit=2')
    expect(allowed.status).toBe(200)
    const denied = await get(
      app(),
      '/geoapi/collections/obs/items',
      { authorization: `Bearer ${token}` },
      'POST',
    )
    expect(denied.status).toBe(403)
    expect((await denied.json()).error).toBe('insufficient_scope')
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /v1/data/httpapi/authz',
      'POST /v1/data/httpapi/authz',
    ])
    const input = seen[0]?.body.input as Record<string, unknown>
    // The fastapi-opa shape: the verified claims spread at the top level, method, path segments…
    expect(input.sub).toBe('alice')
    expect(input.iss).toBe(idp.issuer)
    expect(input.aud).toBe(AUDIENCE)
    expect(input.scope).toBe('read')
    expect(input.company).toBe('acme')
    expect(input.request_method).toBe('GET')
    expect(input.request_path).toEqual(['geoapi', 'collections', 'obs', 'items'])
    // …plus a namespaced block.
    expect(input.guard).toEqual({
      subject: 'alice',
      scopes: ['read'],
      scheme: 'jwt',
      key_id: null,
      client_id: 'svc',
      issuer: idp.issuer,
      request: {
        method: 'GET',
        path: '/geoapi/collections/obs/items',
        segments: ['geoapi', 'collections', 'obs', 'items'],
        query: { limit: '2' },
      },
    })
  })

  it('strips a mount prefix from request_path when asked', async () => {
    mode = 'policy'
    seen.length = 0
    await withToken(app({ pathPrefix: '/geoapi' }), await accessToken(idp), '/geoapi/collections/obs')
    expect(seen[0]?.body.input.request_path).toEqual(['collections', 'obs'])
  })

  it('an undefined decision (200 without result) is a deny', async () => {
    mode = 'undefined'
    expect((await withToken(app(), await accessToken(idp))).status).toBe(403)
  })

  it('OPA erroring, answering garbage, too slow or down is 503 (fail closed)', async () => {
    const token = await accessToken(idp)
    for (const m of ['error', 'garbage', 'slow'] as const) {
      mode = m
      const response = await withToken(app({ timeoutMs: 100 }), token)
      expect({ m, status: response.status }).toEqual({ m, status: 503 })
      expect((await response.json()).error).toBe('temporarily_unavailable')
    }
    mode = 'policy'
    const down = await startServer(() => new Response('never'))
    const url = down.url
    await down.close()
    const response = await withToken(protectedApp(jwt(), policy(opaPolicy({ url }))), token)
    expect(response.status).toBe(503)
    await sleep(250)
  })

  it('refuses bad OPA configuration at startup', () => {
    expect(() => opaPolicy({ url: 'not a url' })).toThrow(GuardError)
    expect(() => opaPolicy({ url: opa.url, path: '../admin' })).toThrow(GuardError)
    expect(() => opaPolicy({ url: opa.url, timeoutMs: -1 })).toThrow(GuardError)
  })
})

describe('policy(cedarPolicy()) in process', () => {
  const POLICIES = `
    permit(principal, action == Action::"GET", resource)
      when { context.scopes.contains("read") };
    permit(principal is User, action == Action::"POST", resource)
      when { context.scopes.contains("write") && principal has company && principal.company == "acme" };
    forbid(principal, action, resource)
      when { context.path.contains("secret") };
  `

  it('allows and denies per the policies, with claims as principal attributes', async () => {
    const app = protectedApp(jwt(), policy(await cedarPolicy({ policies: POLICIES })))
    const reader = await signed(idp, { scope: 'read' })
    const writer = await signed(idp, { scope: 'read write', company: 'acme' })
    const outsider = await signed(idp, { scope: 'read write', company: 'evil' })
    expect((await withToken(app, reader, '/collections')).status).toBe(200)
    expect((await withToken(app, reader, '/collections/secret')).status).toBe(403)
    expect(
      (await get(app, '/collections/obs/items', { authorization: `Bearer ${reader}` }, 'POST')).status,
    ).toBe(403)
    expect(
      (await get(app, '/collections/obs/items', { authorization: `Bearer ${writer}` }, 'POST')).status,
    ).toBe(200)
    expect(
      (await get(app, '/collections/obs/items', { authorization: `Bearer ${outsider}` }, 'POST')).status,
    ).toBe(403)
  })

  it('API keys are ApiKey principals', async () => {
    const engine = await cedarPolicy({
      policies: 'permit(principal == ApiKey::"ci", action == Action::"GET", resource);',
    })
    const app = protectedApp(
      apiKeyAuth({
        keys: [
          { id: 'ci', key: KEY },
          { id: 'other', key: `${KEY}-2` },
        ],
      }),
      policy(engine),
    )
    expect((await get(app, '/x', { 'x-api-key': KEY })).status).toBe(200)
    expect((await get(app, '/x', { 'x-api-key': `${KEY}-2` })).status).toBe(403)
  })

  it('claims Cedar cannot represent, or that try to smuggle an entity reference, are left out', async () => {
    const engine = await cedarPolicy({
      policies:
        'permit(principal, action, resource) when { principal has role && principal.role == "admin" };',
    })
    const app = protectedApp(jwt(), policy(engine))
    const smuggled = await signed(idp, {
      role: { __entity: { type: 'Role', id: 'admin' } },
      ratio: 0.5,
      nothing: null,
    })
    expect((await withToken(app, smuggled)).status).toBe(403)
    expect((await withToken(app, await signed(idp, { role: 'admin', ratio: 0.5 }))).status).toBe(200)
  })

  it('custom mappings and a schema-validated request', async () => {
    const engine = await cedarPolicy({
      policies:
        'permit(principal, action == Geo::Action::"read", resource is Geo::Collection) when { resource.open };',
      principal: ({ auth }) => ({ type: 'Geo::User', id: auth.subject ?? '' }),
      action: ({ method }) => ({ type: 'Geo::Action', id: method === 'GET' ? 'read' : 'write' }),
      resource: ({ segments }) => ({ type: 'Geo::Collection', id: segments[1] ?? '' }),
      context: () => ({}),
      entities: ({ segments }) => [
        {
          uid: { type: 'Geo::Collection', id: segments[1] ?? '' },
          attrs: { open: segments[1] === 'obs' },
          parents: [],
        },
      ],
      schema: `namespace Geo {
        entity User;
        entity Collection { open: Bool };
        action read, write appliesTo { principal: User, resource: Collection };
      }`,
    })
    const app = protectedApp(jwt(), policy(engine))
    const token = await accessToken(idp)
    expect((await withToken(app, token, '/collections/obs')).status).toBe(200)
    expect((await withToken(app, token, '/collections/closed')).status).toBe(403)
  })

  it('a policy or schema that does not parse is a startup error', async () => {
    for (const options of [
      { policies: 'permit(principal, action, resource' },
      { policies: 'permit(principal, action, resource);', schema: 'entity {' },
    ]) {
      let error: unknown
      try {
        await cedarPolicy(options)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(GuardError)
      expect((error as GuardError).code).toBe('ERR_INVALID_POLICY')
    }
  })
})
