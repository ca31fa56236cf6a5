/**
 * A Session of a DPoP-bound login, on every runtime: proofs per request, nonces per origin, one
 * retry; a refresh signed with the stored key and keeping it; tokens per resource. The provider
 * and the API are functions answering `new Response`; proofs are verified with `jose`.
 */
import { generateDPoPKey, type TokenRecord } from '@keyfob/core'
import { memoryTokenStore } from '@keyfob/store'
import { calculateJwkThumbprint, EmbeddedJWK, type JWK, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { Session } from '../src/index.ts'

const ISSUER = 'https://idp.test'
const API = 'https://api.test/'
const REPORTS = 'https://reports.test/'

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  })

async function proofOf(request: Request) {
  const proof = request.headers.get('dpop')
  expect(proof).toBeTruthy()
  const verified = await jwtVerify(proof as string, EmbeddedJWK, { typ: 'dpop+jwt' })
  return { claims: verified.payload, jkt: await calculateJwkThumbprint(verified.protectedHeader.jwk as JWK) }
}

async function setup() {
  const key = await generateDPoPKey('ES256')
  const { d: _d, ...publicJwk } = key.record.jwk
  const jkt = await calculateJwkThumbprint(publicJwk as JWK)
  /** The provider: discovery, and a token endpoint that wants a nonce and the bound key. */
  const tokenRequests: Array<{ body: URLSearchParams; nonce: unknown }> = []
  let issued = 0
  const idpFetch = async (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init)
    const path = new URL(request.url).pathname
    if (path === '/.well-known/openid-configuration')
      return json({
        issuer: ISSUER,
        token_endpoint: `${ISSUER}/token`,
        dpop_signing_alg_values_supported: ['ES256'],
      })
    const body = new URLSearchParams(await request.text())
    const { claims, jkt: signer } = await proofOf(request)
    tokenRequests.push({ body, nonce: claims.nonce })
    if (claims.nonce !== 'as-nonce')
      return json({ error: 'use_dpop_nonce' }, 400, { 'dpop-nonce': 'as-nonce' })
    if (signer !== jkt) return json({ error: 'invalid_grant' }, 400)
    issued++
    return json({
      access_token: `at-${issued}-for-${body.get('resource') ?? 'none'}`,
      token_type: 'DPoP',
      expires_in: 300,
      refresh_token: `rt-${issued}`,
    })
  }
  /** The API: wants DPoP with the bound key, the right htm/htu/ath, and its own nonce. */
  const apiRequests: Request[] = []
  const api = async (request: Request) => {
    apiRequests.push(request.clone())
    const token = (request.headers.get('authorization') ?? '').replace(/^DPoP /, '')
    const { claims, jkt: signer } = await proofOf(request)
    const url = new URL(request.url)
    const ath = btoa(
      String.fromCharCode(
        ...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))),
      ),
    )
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
    if (
      !request.headers.get('authorization')?.startsWith('DPoP ') ||
      signer !== jkt ||
      claims.htm !== request.method ||
      claims.htu !== `${url.origin}${url.pathname}` ||
      claims.ath !== ath
    )
      return new Response(null, {
        status: 401,
        headers: { 'www-authenticate': 'DPoP error="invalid_token"' },
      })
    if (claims.nonce !== `${url.origin}-nonce`)
      return new Response(null, {
        status: 401,
        headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': `${url.origin}-nonce` },
      })
    return json({ token, body: await request.text() })
  }
  const store = memoryTokenStore()
  const record: TokenRecord = {
    accessToken: 'at-0',
    tokenType: 'dpop',
    expiresAt: Date.now() + 300_000,
    refreshToken: 'rt-0',
    dpopKey: key.record,
    updatedAt: Date.now(),
  }
  const session = new Session({
    issuer: ISSUER,
    client: { clientId: 'cli' },
    store,
    fetch: idpFetch,
    apiFetch: api,
    apiOrigins: [API, REPORTS],
    resource: [API, REPORTS],
  })
  await store.set(session.key, record)
  return { session, store, record, tokenRequests, apiRequests }
}

describe('Session with a DPoP-bound login', () => {
  it('a fresh proof per request, the nonce per origin, one retry each time the API asks', async () => {
    const { session, apiRequests } = await setup()
    const first = await session.fetch(`${API}jobs?x=1#frag`, { method: 'POST', body: 'payload' })
    expect(await first.json()).toEqual({ token: 'at-0', body: 'payload' })
    expect(apiRequests.length).toBe(2) // the API asked for its nonce once
    const again = await session.fetch(`${API}jobs/2`)
    expect(again.status).toBe(200)
    expect(apiRequests.length).toBe(3) // the origin's nonce was kept
    const jtis = await Promise.all(apiRequests.map(async (r) => (await proofOf(r)).claims.jti))
    expect(new Set(jtis).size).toBe(3)
  })

  it('a refresh is signed with the stored key (one nonce retry) and keeps it', async () => {
    const { session, store, record, tokenRequests } = await setup()
    await store.set(session.key, { ...record, expiresAt: Date.now() - 1 })
    expect(await session.accessToken()).toBe(`at-1-for-${API}`)
    expect(tokenRequests.map((r) => [r.body.get('grant_type'), r.nonce])).toEqual([
      ['refresh_token', undefined],
      ['refresh_token', 'as-nonce'],
    ])
    const stored = await store.get(session.key)
    expect(stored?.dpopKey).toEqual(record.dpopKey)
    expect(stored?.refreshToken).toBe('rt-1')
  })

  it('a token per resource: minted by a refresh naming it, kept in memory, the store keeps the login’s own', async () => {
    const { session, store, tokenRequests } = await setup()
    const reports = await session.fetch(`${REPORTS}monthly`)
    expect((await reports.json()).token).toBe(`at-1-for-${REPORTS}`)
    expect(tokenRequests.at(-1)?.body.getAll('resource')).toEqual([REPORTS])
    expect(await session.accessToken({ resource: REPORTS })).toBe(`at-1-for-${REPORTS}`)
    expect(tokenRequests.length).toBe(2) // one nonce retry, then no more requests
    const stored = await store.get(session.key)
    expect(stored?.accessToken).toBe('at-0')
    expect(stored?.refreshToken).toBe('rt-1') // the rotated refresh token was saved
    // Logout removes the record, its key with it.
    await session.logout()
    expect(await store.get(session.key)).toBeUndefined()
  })
})
