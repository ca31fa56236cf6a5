/**
 * Issue 19's client half against a certified provider: keyfob's drivers and Session with DPoP
 * (RFC 9449), pushed authorization requests (RFC 9126) and resource indicators (RFC 8707) against
 * `oidc-provider` over loopback HTTP, with DPoP nonces required at every endpoint, and a loopback
 * resource server that verifies what the session sends (the access token with the provider's
 * keys, its `cnf.jkt`, and the proof's signature, `htm`, `htu`, `ath`, `jti` and its own nonce)
 * with `jose`.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TokenRecord } from '@keyfob/core'
import { fileTokenStore, memoryTokenStore } from '@keyfob/store'
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  EmbeddedJWK,
  exportJWK,
  generateKeyPair,
  type JWK,
  jwtVerify,
} from 'jose'
import Provider, { errors } from 'oidc-provider'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserLogin, deviceLogin, refreshTokens, Session } from '../src/index.ts'
import { person } from './oidc-provider-person.ts'

const API = 'http://127.0.0.1:1/' // replaced by the resource server's address in beforeAll
let api = API
let other = 'https://other-api.example/'
let issuer: string
let idp: Server
let rs: Server
/** Every request keyfob sends to the provider: method, path, whether it had a proof, with a nonce. */
const sent: Array<{ path: string; dpop: boolean; nonce: boolean }> = []

const decode = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString())

/** A fetch that records what goes to the provider. */
const recording = async (input: string | URL | Request, init?: RequestInit) => {
  const request = new Request(input, init)
  const proof = request.headers.get('dpop')
  sent.push({
    path: new URL(request.url).pathname,
    dpop: proof !== null,
    nonce: proof !== null && decode(proof).nonce !== undefined,
  })
  return fetch(request)
}

/** What the resource server saw: each request's verdict. */
const verdicts: Array<{ status: number; why: string; aud?: unknown }> = []
const seenJti = new Set<string>()
const RS_NONCE = `rs-nonce-${randomBytes(8).toString('hex')}`

/**
 * A resource server that accepts only DPoP-bound tokens of this provider with a valid proof of
 * the bound key (RFC 9449 §7), and demands its own nonce (§9).
 */
async function resourceServer(
  request: IncomingMessage,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const challenge = (error: string, description: string) => ({
    status: 401,
    headers: {
      'www-authenticate': `DPoP error="${error}", error_description="${description}", algs="ES256"`,
      ...(error === 'use_dpop_nonce' ? { 'dpop-nonce': RS_NONCE } : {}),
    },
    body: '',
  })
  const authorization = request.headers.authorization ?? ''
  const proof = request.headers.dpop
  if (!authorization.startsWith('DPoP ') || typeof proof !== 'string')
    return challenge('invalid_token', 'DPoP scheme and proof required')
  const token = authorization.slice(5)
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`))
  const access = await jwtVerify(token, jwks, { issuer }).catch(() => undefined)
  if (!access) return challenge('invalid_token', 'the access token did not verify')
  const verified = await jwtVerify(proof, EmbeddedJWK, {
    typ: 'dpop+jwt',
    algorithms: ['ES256', 'EdDSA'],
  }).catch(() => undefined)
  if (!verified) return challenge('invalid_dpop_proof', 'the proof did not verify')
  const { payload, protectedHeader } = verified
  const url = new URL(request.url ?? '/', api)
  const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))).toString(
    'base64url',
  )
  const jkt = await calculateJwkThumbprint(protectedHeader.jwk as JWK)
  const cnf = (access.payload.cnf as { jkt?: string } | undefined)?.jkt
  const problem =
    cnf !== jkt
      ? 'the proof is not signed with the bound key'
      : payload.htm !== request.method
        ? 'htm'
        : payload.htu !== `${url.origin}${url.pathname}`
          ? 'htu'
          : payload.ath !== ath
            ? 'ath'
            : seenJti.has(payload.jti as string)
              ? 'jti replayed'
              : undefined
  if (problem) return challenge('invalid_dpop_proof', problem)
  seenJti.add(payload.jti as string)
  if (payload.nonce !== RS_NONCE) return challenge('use_dpop_nonce', 'use the nonce')
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ aud: access.payload.aud }),
  }
}

beforeAll(async () => {
  rs = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => (body += chunk))
    request.on('end', () => {
      void resourceServer(request).then((answer) => {
        verdicts.push({ status: answer.status, why: answer.headers['www-authenticate'] ?? body })
        response.writeHead(answer.status, answer.headers).end(answer.body)
      })
    })
  })
  await new Promise<void>((resolve) => rs.listen(0, '127.0.0.1', resolve))
  api = `http://127.0.0.1:${(rs.address() as AddressInfo).port}/`
  other = `http://127.0.0.1:${(rs.address() as AddressInfo).port}/other/`

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
        client_id: 'cli',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        dpop_bound_access_tokens: true,
      },
    ],
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => api,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => {
          if (resource !== api && resource !== other)
            throw new (errors as { InvalidTarget: new () => Error }).InvalidTarget()
          return {
            scope: 'api',
            audience: resource,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          }
        },
      },
    },
    scopes: ['openid', 'offline_access', 'api'],
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  })
  idp.on('request', provider.callback())
})

afterAll(async () => {
  for (const server of [idp, rs]) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A browser login with DPoP, PAR (required by the provider) and two resources. */
async function login(name: string): Promise<{ record: TokenRecord; opened: string }> {
  const user = person({ login: name, password: 'any' })
  let opened = ''
  const tokens = await browserLogin({
    issuer,
    client: { clientId: 'cli' },
    fetch: recording,
    scope: 'openid offline_access api',
    dpop: true,
    resource: [api, other],
    authorizationParameters: { prompt: 'consent' },
    onUrl: () => {},
    openBrowser: async (url) => {
      opened = url
      void user.walk(url)
      return true
    },
  })
  return { record: tokens.record, opened }
}

describe('DPoP + PAR + resource indicators against oidc-provider', () => {
  it('code flow: pushed request, DPoP-bound JWT for the first resource, nonce retries, refresh with the same key', async () => {
    sent.length = 0
    const { record, opened } = await login('alice')
    // PAR: the browser got only client_id and request_uri (oidc-provider requires the push).
    expect([...new URL(opened).searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
    expect(record.tokenType).toBe('dpop')
    expect(record.dpopKey?.alg).toBe('ES256')
    expect(typeof record.dpopKey?.jwk.d).toBe('string')
    const claims = decode(record.accessToken as string)
    expect(claims.aud).toBe(api)
    const { d: _d, ...publicJwk } = (record.dpopKey?.jwk ?? {}) as Record<string, string>
    expect(claims.cnf.jkt).toBe(await calculateJwkThumbprint(publicJwk as JWK))
    // Nonces required everywhere: the first push and the first token request were each retried
    // exactly once, with the nonce.
    expect(sent.filter((r) => r.path === '/request')).toEqual([
      { path: '/request', dpop: true, nonce: false },
      { path: '/request', dpop: true, nonce: true },
    ])
    expect(sent.filter((r) => r.path === '/token')).toEqual([{ path: '/token', dpop: true, nonce: true }])

    sent.length = 0
    const next = await refreshTokens({
      issuer,
      client: { clientId: 'cli' },
      fetch: recording,
      record,
      resource: [api],
    })
    expect(next.record.dpopKey).toEqual(record.dpopKey)
    expect(decode(next.accessToken as string).cnf.jkt).toBe(claims.cnf.jkt)
    expect(sent.filter((r) => r.path === '/token')).toEqual([
      { path: '/token', dpop: true, nonce: false },
      { path: '/token', dpop: true, nonce: true },
    ])
    // The refresh token is bound to the key: another key cannot use it.
    await expect(
      refreshTokens({
        issuer,
        client: { clientId: 'cli' },
        record: {
          ...next.record,
          dpopKey: {
            alg: 'ES256',
            jwk: (await exportJWK(
              (
                await generateKeyPair('ES256', { extractable: true })
              ).privateKey,
            )) as Record<string, string>,
          },
        },
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_GRANT' })
  }, 30_000)

  it('Session.fetch: a fresh proof per request, one retry for the server nonce, tokens per resource', async () => {
    const { record } = await login('bob')
    const store = memoryTokenStore()
    const session = new Session({
      issuer,
      client: { clientId: 'cli' },
      store,
      fetch: recording,
      resource: [api, other],
      apiOrigins: [api],
    })
    await store.set(session.key, record)
    verdicts.length = 0
    const first = await session.fetch(`${api}jobs?page=1`, { method: 'POST', body: '{"n":1}' })
    expect(first.status).toBe(200)
    expect((await first.json()).aud).toBe(api)
    // The resource server asked for its nonce once; the retry carried it.
    expect(verdicts.map((v) => v.status)).toEqual([401, 200])
    expect(verdicts[0]?.why).toContain('use_dpop_nonce')
    const second = await session.fetch(`${api}jobs/2`)
    expect(second.status).toBe(200)
    expect(verdicts.length).toBe(3) // the nonce is kept per origin: no second challenge

    // A URL under the second resource gets a token minted for it, by a refresh naming it.
    const minted = await session.fetch(`${other}thing`, { method: 'DELETE' })
    expect(minted.status).toBe(200)
    expect((await minted.json()).aud).toBe(other)
    const stored = await store.get(session.key)
    expect(decode(stored?.accessToken as string).aud).toBe(api) // the login's own token stays
    expect(stored?.dpopKey).toEqual(record.dpopKey)
    expect(decode(await session.accessToken({ resource: other })).aud).toBe(other)
    expect(verdicts.every((v) => v.status === 200 || v.why.includes('use_dpop_nonce'))).toBe(true)

    // A resource the provider refuses is its OAuth error.
    await expect(session.accessToken({ resource: 'https://unknown.example/' })).rejects.toMatchObject({
      code: 'ERR_INVALID_TARGET',
    })

    // Logout revokes and removes the record, the key with it.
    const out = await session.logout()
    expect(out.removed).toBe(true)
    expect(await store.get(session.key)).toBeUndefined()
  }, 30_000)

  it('device flow with DPoP and a resource; the file store keeps the key and a new Session uses it', async () => {
    sent.length = 0
    const tokens = await deviceLogin({
      issuer,
      client: { clientId: 'cli' },
      fetch: recording,
      scope: 'openid offline_access api',
      dpop: true,
      resource: api,
      display: ({ verificationUriComplete, verificationUri, userCode }) => {
        void person({ login: 'carol', password: 'any', user_code: userCode }).walk(
          verificationUriComplete ?? verificationUri,
        )
      },
      sleep: (until) =>
        new Promise((resolve) => setTimeout(resolve, Math.min(200, Math.max(0, until - Date.now())))),
    })
    expect(tokens.record.tokenType).toBe('dpop')
    expect(decode(tokens.accessToken as string).aud).toBe(api)
    expect(sent.filter((r) => r.path === '/token').every((r) => r.dpop)).toBe(true)

    const dir = mkdtempSync(join(tmpdir(), 'keyfob-dpop-'))
    const store = fileTokenStore({ dir })
    const key = { issuer, clientId: 'cli' }
    // Stored expired: the new session must refresh, with the stored key.
    await store.set(key, { ...tokens.record, expiresAt: Date.now() - 1 })
    const session = new Session({
      issuer,
      client: { clientId: 'cli' },
      store,
      resource: api,
      apiOrigins: [api],
    })
    const response = await session.fetch(`${api}after-restart`)
    expect(response.status).toBe(200)
    const stored = await store.get(key)
    expect(stored?.accessToken).not.toBe(tokens.accessToken)
    expect(stored?.dpopKey).toEqual(tokens.record.dpopKey)
  }, 60_000)
})
