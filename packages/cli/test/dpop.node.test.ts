/**
 * `keyfob login --dpop --resource`, `keyfob token` and `keyfob fetch` as a user runs them (the
 * built bin, its own process and directories) against oidc-provider with DPoP nonces required and
 * resource indicators on, and a loopback API that verifies each request's proof (`jose`).
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  EmbeddedJWK,
  exportJWK,
  generateKeyPair,
  type JWK,
  jwtVerify,
} from 'jose'
import Provider from 'oidc-provider'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyfob, newHome } from './spawn.ts'

let idp: Server
let rs: Server
let issuer: string
let api: string
const NONCE = `rs-${randomBytes(6).toString('hex')}`
/** What the API saw: method, path, verdict. */
const seen: Array<{ method: string; path: string; status: number; body: string }> = []

beforeAll(async () => {
  rs = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => (body += chunk))
    request.on('end', async () => {
      const deny = (error: string, extra: Record<string, string> = {}) => {
        seen.push({ method: request.method ?? '', path: request.url ?? '', status: 401, body })
        response.writeHead(401, { 'www-authenticate': `DPoP error="${error}", algs="ES256"`, ...extra }).end()
      }
      const authorization = request.headers.authorization ?? ''
      const proof = request.headers.dpop
      if (!authorization.startsWith('DPoP ') || typeof proof !== 'string') return deny('invalid_token')
      const token = authorization.slice(5)
      const access = await jwtVerify(token, createRemoteJWKSet(new URL(`${issuer}/jwks`)), { issuer }).catch(
        () => undefined,
      )
      const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' }).catch(() => undefined)
      if (!access || !verified) return deny('invalid_token')
      const url = new URL(request.url ?? '/', api)
      const ath = Buffer.from(
        await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)),
      ).toString('base64url')
      const bound =
        (access.payload.cnf as { jkt?: string }).jkt ===
          (await calculateJwkThumbprint(verified.protectedHeader.jwk as JWK)) &&
        verified.payload.htm === request.method &&
        verified.payload.htu === `${url.origin}${url.pathname}` &&
        verified.payload.ath === ath
      if (!bound) return deny('invalid_dpop_proof')
      if (verified.payload.nonce !== NONCE) return deny('use_dpop_nonce', { 'dpop-nonce': NONCE })
      seen.push({ method: request.method ?? '', path: request.url ?? '', status: 200, body })
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ aud: access.payload.aud, method: request.method, body }))
    })
  })
  await new Promise<void>((resolve) => rs.listen(0, '127.0.0.1', resolve))
  api = `http://127.0.0.1:${(rs.address() as AddressInfo).port}/`

  idp = createServer()
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`
  const keys = await Promise.all(
    (['RS256', 'ES256'] as const).map(async (alg) => ({
      ...(await exportJWK((await generateKeyPair(alg, { extractable: true })).privateKey)),
      alg,
      use: 'sig',
    })),
  )
  const provider = new Provider(issuer, {
    jwks: { keys: keys as never },
    clients: [
      {
        client_id: 'svc',
        client_secret: 'svc-secret-with-enough-entropy',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        dpop_bound_access_tokens: true,
      },
    ],
    features: {
      clientCredentials: { enabled: true },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        getResourceServerInfo: async () => ({
          scope: 'api',
          audience: api,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    scopes: ['api'],
  })
  idp.on('request', provider.callback())
})

afterAll(async () => {
  for (const server of [idp, rs]) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

describe('keyfob with DPoP and resource indicators', () => {
  it('login --dpop --resource, then token explains the proof, then fetch makes requests with one', async () => {
    const home = newHome()
    const secret = { KEYFOB_CLIENT_SECRET: 'svc-secret-with-enough-entropy' }
    const added = await keyfob(
      home,
      ['add-oidc', issuer, '--provider-id', 'op', '--client-id', 'svc'],
      secret,
    )
    expect(added.code).toBe(0)
    const login = await keyfob(
      home,
      ['login', '--client-credentials', '--dpop', '--resource', api, '--scope', 'api', '--json'],
      secret,
    )
    expect(login.stderr).toBe('')
    expect(login.code).toBe(0)
    expect(JSON.parse(login.stdout).dpop).toEqual({ alg: 'ES256' })
    const stored = JSON.parse(readFileSync(join(home, 'data', 'tokens.json'), 'utf8')).tokens[0].record
    expect(stored.tokenType).toBe('dpop')
    expect(stored.dpopKey.alg).toBe('ES256')

    const token = await keyfob(home, ['token'], secret)
    expect(token.code).toBe(0)
    expect(token.stdout.trim()).toBe(stored.accessToken)
    expect(token.stderr).toMatch(/DPoP-bound.*keyfob fetch/)
    const status = await keyfob(home, ['status'])
    expect(status.stdout).toContain('DPoP-bound (ES256)')

    seen.length = 0
    const get = await keyfob(home, ['fetch', `${api}jobs?page=2`], secret)
    expect(get.stderr).toBe('')
    expect(get.code).toBe(0)
    expect(JSON.parse(get.stdout)).toEqual({ aud: api, method: 'GET', body: '' })
    // The API demanded its nonce once; the retry carried it.
    expect(seen.map((s) => s.status)).toEqual([401, 200])

    const post = await keyfob(home, ['fetch', '-X', 'PUT', '-d', '{"n":1}', '-i', `${api}jobs/1`], secret)
    expect(post.code).toBe(0)
    expect(post.stdout).toMatch(/^HTTP 200 OK\n/)
    expect(post.stdout).toContain('"body":"{\\"n\\":1}"')

    // keyfob fetch sets the authorization itself: a header that would replace it is a usage error.
    const refused = await keyfob(home, ['fetch', '-H', 'authorization: x', `${api}x`], secret)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('sets this header itself')
  }, 60_000)

  it('add-oidc --dpop --resource sets the provider’s settings, which every login then follows', async () => {
    const home = newHome()
    const secret = { KEYFOB_CLIENT_SECRET: 'svc-secret-with-enough-entropy' }
    const bad = await keyfob(home, ['add-oidc', issuer, '--client-id', 'svc', '--resource', 'api#x'], secret)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--resource must be an absolute URI')
    const added = await keyfob(
      home,
      [
        'add-oidc',
        issuer,
        '--provider-id',
        'op',
        '--client-id',
        'svc',
        '--dpop',
        '--resource',
        api,
        '--scope',
        'api',
      ],
      secret,
    )
    expect(added.code).toBe(0)
    const config = JSON.parse(readFileSync(join(home, 'config', 'config.json'), 'utf8'))
    expect(config.providers.op).toMatchObject({ dpop: true, resource: api })
    const login = await keyfob(home, ['login', '--client-credentials', '--json'], secret)
    expect(login.code).toBe(0)
    expect(JSON.parse(login.stdout).dpop).toEqual({ alg: 'ES256' })
    const get = await keyfob(home, ['fetch', `${api}settings`], secret)
    expect(JSON.parse(get.stdout)).toMatchObject({ aud: api, method: 'GET' })
  }, 60_000)
})
