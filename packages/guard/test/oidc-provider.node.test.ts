/**
 * Interop: the guard in front of a real API on loopback, accepting DPoP-bound access tokens that
 * oidc-provider (a certified OpenID provider; DPoP and resource indicators switched on) issued,
 * with proofs made by openid-client. JWT access tokens are verified locally; opaque ones through
 * oidc-provider's introspection, whose answer carries `cnf.jkt`.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type ServerType, serve } from '@hono/node-server'
import { Hono } from 'hono'
import Provider from 'oidc-provider'
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GuardEnv, type GuardEvent, jwtAuth, oidcAuth } from '../src/index.ts'

let idpServer: Server
let issuer: string
let api: ServerType
let apiUrl: string
const events: GuardEvent[] = []

/** The resource (and audience) of each route: JWT access tokens, opaque ones, and one for nobody here. */
const resource = {
  jwt: () => `${apiUrl}/jwt`,
  opaque: () => `${apiUrl}/opaque`,
  elsewhere: () => 'https://elsewhere.example/api',
}

beforeAll(async () => {
  // The API first: its URL is the resource indicator the provider puts into `aud`.
  const app = new Hono<GuardEnv>()
  api = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise<void>((resolve) => api.once('listening', () => resolve()))
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`

  idpServer = createServer()
  await new Promise<void>((resolve) => idpServer.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(idpServer.address() as AddressInfo).port}`
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'svc',
        client_secret: 'svc-secret-with-enough-entropy',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: 'api',
        client_secret: 'api-secret-with-enough-entropy',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => resource.jwt(),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => ({
          scope: 'api:read',
          audience: indicator,
          accessTokenFormat: indicator === resource.opaque() ? 'opaque' : 'jwt',
          ...(indicator === resource.opaque() ? {} : { jwt: { sign: { alg: 'RS256' } } }),
        }),
      },
    },
    scopes: ['api:read'],
  })
  idpServer.on('request', provider.callback())

  const onEvent = (e: GuardEvent) => void events.push(e)
  app.use(
    '/jwt/*',
    jwtAuth({ issuer, audience: resource.jwt(), typ: 'at+jwt', dpop: { nonce: true }, onEvent }),
  )
  app.use(
    '/opaque/*',
    oidcAuth({
      issuer,
      audience: resource.opaque(),
      introspection: { clientId: 'api', clientSecret: 'api-secret-with-enough-entropy' },
      dpop: { required: true },
      onEvent,
    }),
  )
  app.all('*', (c) =>
    c.json({ sub: c.var.auth.subject, scheme: c.var.auth.scheme, jkt: c.var.auth.dpop?.jkt }),
  )
})

afterAll(async () => {
  api.close()
  idpServer.closeAllConnections()
  await new Promise((resolve) => idpServer.close(resolve))
})

/** openid-client throws on a 401 with a challenge: the response it refused. */
async function refusal(request: Promise<Response>): Promise<Response> {
  try {
    return await request
  } catch (error) {
    if (error instanceof client.WWWAuthenticateChallengeError) return error.response as Response
    throw error
  }
}

async function configuration(): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), 'svc', 'svc-secret-with-enough-entropy', undefined, {
    execute: [client.allowInsecureRequests],
  })
}

describe('the guard accepts oidc-provider DPoP-bound tokens with openid-client proofs', () => {
  it('JWT access token: bound by cnf.jkt, proof per request, server nonce retried by the client', async () => {
    const config = await configuration()
    const keyPair = await client.randomDPoPKeyPair('ES256')
    const dpop = client.getDPoPHandle(config, keyPair)
    const tokens = await client.clientCredentialsGrant(
      config,
      { scope: 'api:read', resource: resource.jwt() },
      { DPoP: dpop },
    )
    expect(tokens.token_type).toBe('dpop')
    const claims = JSON.parse(
      Buffer.from(tokens.access_token.split('.')[1] as string, 'base64url').toString(),
    )
    expect(claims.aud).toBe(resource.jwt())
    expect(typeof claims.cnf?.jkt).toBe('string')

    // The guard asks for a nonce (use_dpop_nonce); openid-client retries once with it.
    const url = new URL(`${resource.jwt()}/items?limit=2`)
    const response = await client.fetchProtectedResource(
      config,
      tokens.access_token,
      url,
      'GET',
      undefined,
      undefined,
      {
        DPoP: dpop,
      },
    )
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ sub: 'svc', scheme: 'jwt', jkt: claims.cnf.jkt })
    expect(events.map((e) => e.reason).slice(-2)).toEqual(['dpop_nonce', 'ok'])

    // Later requests carry the nonce from the start, each with a fresh proof.
    for (const method of ['GET', 'POST'] as const) {
      const again = await client.fetchProtectedResource(
        config,
        tokens.access_token,
        url,
        method,
        undefined,
        undefined,
        {
          DPoP: dpop,
        },
      )
      expect({ method, status: again.status }).toEqual({ method, status: 200 })
      expect(events[events.length - 1]?.reason).toBe('ok')
    }

    // The same token as Bearer, and with another client's key, is refused.
    const bearer = await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } })
    expect(bearer.status).toBe(401)
    expect(events[events.length - 1]?.reason).toBe('dpop_bound_as_bearer')
    const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
    const stolen = await refusal(
      client.fetchProtectedResource(config, tokens.access_token, url, 'GET', undefined, undefined, {
        DPoP: thief,
      }),
    )
    expect(stolen.status).toBe(401)
    expect(stolen.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/)
    expect(events.map((e) => e.reason)).toContain('dpop_key_mismatch')
  }, 20_000)

  it('opaque access token: cnf.jkt from introspection, DPoP required', async () => {
    const config = await configuration()
    const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('EdDSA'))
    const tokens = await client.clientCredentialsGrant(
      config,
      { scope: 'api:read', resource: resource.opaque() },
      { DPoP: dpop },
    )
    expect(tokens.access_token.split('.').length).toBe(1)
    const url = new URL(`${resource.opaque()}/items`)
    const response = await client.fetchProtectedResource(
      config,
      tokens.access_token,
      url,
      'GET',
      undefined,
      undefined,
      {
        DPoP: dpop,
      },
    )
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body.scheme).toBe('introspection')
    expect(typeof body.jkt).toBe('string')
    const bearer = await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } })
    expect(bearer.status).toBe(401)
    expect(bearer.headers.get('www-authenticate')).toMatch(/^DPoP /)
  }, 20_000)

  it('a token minted for another resource is refused, naming the resource to ask for', async () => {
    const config = await configuration()
    const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
    const tokens = await client.clientCredentialsGrant(
      config,
      { scope: 'api:read', resource: resource.elsewhere() },
      { DPoP: dpop },
    )
    const url = new URL(`${resource.jwt()}/items`)
    const response = await refusal(
      client.fetchProtectedResource(config, tokens.access_token, url, 'GET', undefined, undefined, {
        DPoP: dpop,
      }),
    )
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain(`resource=${resource.jwt()}`)
    expect(events[events.length - 1]?.reason).toBe('bad_aud')
  }, 20_000)
})
