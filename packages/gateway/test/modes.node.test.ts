/**
 * End to end with real processes over loopback, in every mode: keyfob-guard (Node, Deno, Bun) in
 * front of an OGC API–like upstream, tokens from the mock IdP served on a socket, an OPA stand-in.
 */
import { request } from 'node:http'
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_KEY, AUDIENCE, type LoopbackServer, startServer, upstreamHandler } from './helpers.ts'
import { type RUNTIMES, type Running, start as startGateway, stop } from './spawn.ts'

function start(runtime: string, args: readonly string[], env: Record<string, string> = {}): Promise<Running> {
  return startGateway([...args, '--port', '0'], env, runtime as keyof typeof RUNTIMES)
}

let upstream: LoopbackServer
let idp: MockIdpServer
let opa: LoopbackServer
const opaInputs: Record<string, unknown>[] = []
beforeAll(async () => {
  upstream = await startServer(upstreamHandler)
  idp = await serve({
    clients: [
      { clientId: 'svc', clientSecret: 'svc-secret-value' },
      { clientId: 'opaque-svc', clientSecret: 'opaque-secret-value', accessTokenFormat: 'opaque' },
      { clientId: 'api', clientSecret: 'api-secret-value' },
    ],
    audience: AUDIENCE,
    scopes: ['openid', 'read', 'write'],
    users: [
      { sub: 'alice', claims: { company: 'osgeo' } },
      { sub: 'bob', claims: { company: 'elsewhere' } },
    ],
  })
  // Rego v1 equivalent: allow if { input.request_method == "GET"; "read" in input.guard.scopes }
  opa = await startServer(async (request) => {
    const { input } = (await request.json()) as { input: Record<string, unknown> }
    opaInputs.push(input)
    const scopes = (input.guard as { scopes: string[] }).scopes
    return Response.json({ result: { allow: input.request_method === 'GET' && scopes.includes('read') } })
  })
})
afterAll(async () => {
  await Promise.all([upstream.close(), idp.close(), opa.close()])
})

async function token(clientId: string, scope: string, audience?: string): Promise<string> {
  const { access_token } = await idp.idp.control.tokens.issue({
    clientId,
    scope,
    ...(audience ? { audience } : {}),
  })
  return access_token
}

describe('keyfob-guard processes in every mode', () => {
  it('JWT mode (Node): discovery from the issuer, identity headers upstream, a foreign audience refused', async () => {
    const running = await start('node', [
      '--upstream',
      upstream.url,
      '--mount',
      '/geoapi',
      '--jwt-issuer',
      idp.issuer,
      '--jwt-audience',
      AUDIENCE,
    ])
    try {
      const goodToken = await token('svc', 'read')
      const good = await fetch(`${running.url}/geoapi/echo`, {
        headers: { authorization: `Bearer ${goodToken}` },
      })
      expect(good.status).toBe(200)
      const { headers } = (await good.json()) as { headers: Record<string, string> }
      expect(headers.authorization).toBeUndefined()
      expect(headers['x-auth-request-client-id']).toBe('svc')
      expect(headers['x-auth-request-scopes']).toBe('read')
      const foreign = await fetch(`${running.url}/geoapi/collections`, {
        headers: { authorization: `Bearer ${await token('svc', 'read', 'https://other.example')}` },
      })
      expect(foreign.status).toBe(401)
      // Two Authorization headers are one request with two credentials (RFC 6750 §3.1: 400),
      // also when the guard reads headers from node:http's raw list.
      const twice = await new Promise<number>((resolve, reject) => {
        const good = `Bearer ${goodToken}`
        request(
          `${running.url}/geoapi/collections`,
          {
            headers: [
              ['authorization', good],
              ['authorization', good],
            ] as unknown as Record<string, string>,
          },
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          },
        )
          .on('error', reject)
          .end()
      })
      expect(twice).toBe(400)
      expect((await fetch(`${running.url}/readyz`)).status).toBe(200)
    } finally {
      expect(await stop(running)).toBe(0)
    }
  }, 60_000)

  it('OIDC mode with introspection and OPA (Node): opaque tokens introspected, OPA decides, 403 on deny', async () => {
    opaInputs.length = 0
    const running = await start(
      'node',
      [
        '--upstream',
        upstream.url,
        '--mount',
        '/geoapi',
        '--oidc-issuer',
        idp.issuer,
        '--oidc-audience',
        AUDIENCE,
        '--introspection-client-id',
        'api',
        '--opa-url',
        opa.url,
      ],
      { KEYFOB_GUARD_INTROSPECTION_CLIENT_SECRET: 'api-secret-value' },
    )
    try {
      const opaque = await token('opaque-svc', 'read')
      expect(opaque.split('.')).toHaveLength(1)
      const allowed = await fetch(`${running.url}/geoapi/collections/obs/items`, {
        headers: { authorization: `Bearer ${opaque}` },
      })
      expect(allowed.status).toBe(200)
      const denied = await fetch(`${running.url}/geoapi/collections/obs/items`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opaque}` },
        body: '{}',
      })
      expect(denied.status).toBe(403)
      const jwtRead = await fetch(`${running.url}/geoapi/collections`, {
        headers: { authorization: `Bearer ${await token('svc', 'write')}` },
      })
      expect(jwtRead.status).toBe(403)
      expect(opaInputs[0]?.request_path).toEqual(['collections', 'obs', 'items'])
      expect(running.stdout()).not.toContain(opaque)
    } finally {
      expect(await stop(running)).toBe(0)
    }
  }, 60_000)

  it("fastgeoapi's OPA mode from its .env: the userinfo claims and the whole path reach OPA, as fastapi-opa sends them", async () => {
    // fastgeoapi's tutorial policy, as a stand-in (Rego v1):
    //   allow if { input.request_path[0] == "geoapi"; input.request_path[1] == "collections"; input.company == "osgeo" }
    const inputs: Record<string, unknown>[] = []
    const companyOpa = await startServer(async (request) => {
      if (new URL(request.url).pathname !== '/v1/data/httpapi/authz')
        return new Response('no', { status: 404 })
      const { input } = (await request.json()) as { input: Record<string, unknown> }
      inputs.push(input)
      const path = input.request_path as string[]
      return Response.json({
        result: { allow: path[0] === 'geoapi' && path[1] === 'collections' && input.company === 'osgeo' },
      })
    })
    const running = await start('node', ['--upstream', upstream.url, '--fastgeoapi-env', '/dev/null'], {
      ENV_STATE: 'prod',
      PROD_OPA_ENABLED: 'true',
      PROD_OPA_URL: companyOpa.url,
      PROD_OIDC_WELL_KNOWN_ENDPOINT: `${idp.issuer}/.well-known/openid-configuration`,
      PROD_OAUTH2_EXPECTED_AUDIENCE: AUDIENCE,
      PROD_FASTGEOAPI_CONTEXT: '/geoapi',
    })
    const issue = async (sub: string, scope: string) =>
      (await idp.idp.control.tokens.issue({ clientId: 'svc', scope, sub })).access_token
    try {
      expect(running.stderr()).toContain('OPA httpapi/authz (fastgeoapi input')
      const alice = await fetch(`${running.url}/geoapi/collections/obs/items?f=json`, {
        headers: { authorization: `Bearer ${await issue('alice', 'openid read')}` },
      })
      expect(alice.status).toBe(200)
      expect(inputs[0]).toMatchObject({
        sub: 'alice',
        company: 'osgeo',
        request_method: 'GET',
        request_path: ['geoapi', 'collections', 'obs', 'items'],
      })
      const bob = await fetch(`${running.url}/geoapi/collections/obs/items`, {
        headers: { authorization: `Bearer ${await issue('bob', 'openid read')}` },
      })
      expect(bob.status).toBe(403)
      expect(inputs[1]).toMatchObject({ sub: 'bob', company: 'elsewhere' })
      // Userinfo refuses a token without `openid`: denied before OPA is asked.
      const noOpenid = await fetch(`${running.url}/geoapi/collections`, {
        headers: { authorization: `Bearer ${await issue('alice', 'read')}` },
      })
      expect(noOpenid.status).toBe(403)
      expect(inputs).toHaveLength(2)
      // What fastgeoapi never checks: the audience, and a token at all.
      const foreign = await idp.idp.control.tokens.issue({
        clientId: 'svc',
        scope: 'openid read',
        sub: 'alice',
        audience: 'https://other.example',
      })
      const wrongAudience = await fetch(`${running.url}/geoapi/collections`, {
        headers: { authorization: `Bearer ${foreign.access_token}` },
      })
      expect(wrongAudience.status).toBe(401)
      expect((await fetch(`${running.url}/geoapi/collections`)).status).toBe(401)
      expect(inputs).toHaveLength(2)
    } finally {
      expect(await stop(running)).toBe(0)
      await companyOpa.close()
    }
  }, 60_000)

  for (const runtime of ['deno', 'bun']) {
    it(`${runtime}: the web entry point serves API-key mode and stops on SIGTERM`, async () => {
      const running = await start(
        runtime,
        ['--upstream', upstream.url, '--mount', '/geoapi', '--api-key-env-prefix', 'PYGEOAPI_KEY_'],
        {
          PYGEOAPI_KEY_GLOBAL: API_KEY,
        },
      )
      try {
        expect((await fetch(`${running.url}/geoapi/collections`)).status).toBe(401)
        const ok = await fetch(`${running.url}/geoapi/echo`, {
          headers: { 'x-api-key': API_KEY, 'x-auth-request-user': 'admin' },
        })
        expect(ok.status).toBe(200)
        const { headers } = (await ok.json()) as { headers: Record<string, string> }
        expect(headers['x-api-key']).toBeUndefined()
        expect(headers['x-auth-request-user']).toBeUndefined()
        expect(headers['x-auth-request-key-id']).toBe('GLOBAL')
        expect(headers['x-forwarded-prefix']).toBe('/geoapi')
        const big = await fetch(`${running.url}/geoapi/bytes?n=${8 * 1024 * 1024}`, {
          headers: { 'x-api-key': API_KEY },
        })
        expect((await big.arrayBuffer()).byteLength).toBe(8 * 1024 * 1024)
      } finally {
        expect(await stop(running)).toBe(0)
      }
    }, 60_000)
  }
})
