/**
 * keyfob against itself (issue 19): flows log in with DPoP, PAR and resource indicators at the
 * mock IdP, and `Session.fetch` calls Hono APIs protected by the guard — `jwtAuth` with DPoP for
 * two resources, `oidcAuth` introspecting opaque tokens for a third. Nonces on both sides, refresh
 * with the stored key, a token per resource, userinfo with a proof, and the IdP's journal showing
 * the thumbprint of the key the client stored.
 */
import { dpopHandle, dpopRequest, generateDPoPKey, importDPoPKey, type TokenRecord } from '@keyfob/core'
import { type GuardEnv, jwtAuth, oidcAuth } from '@keyfob/guard'
import { createMockIdp, type MockIdp } from '@keyfob/mock-idp'
import { memoryTokenStore } from '@keyfob/store'
import { Hono, type MiddlewareHandler } from 'hono'
import { calculateJwkThumbprint, decodeJwt, exportJWK, type JWK, SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  browserLogin,
  clientCredentials,
  type DriverOptions,
  deviceLogin,
  passwordLogin,
  Session,
} from '../src/index.ts'
import { codeOf } from './helpers.ts'

const A = 'https://a.api.test/'
const B = 'https://b.api.test/'
const C = 'https://opaque.api.test/'
const CLI = {
  clientId: 'cli',
  redirectUris: ['http://127.0.0.1/callback'],
  // This client must push (RFC 9126 §6): registration metadata that discovery does not show.
  requirePushedAuthorizationRequests: true,
  dpopBoundAccessTokens: true,
  resources: [A, B],
}
const SVC = {
  clientId: 'svc',
  clientSecret: 'svc-secret-value',
  grantTypes: ['client_credentials' as const],
  dpopBoundAccessTokens: true,
  resources: [A, B],
}
const OPAQUE = {
  clientId: 'opaque-svc',
  clientSecret: 'opaque-secret-value',
  grantTypes: ['client_credentials' as const],
  accessTokenFormat: 'opaque' as const,
  dpopBoundAccessTokens: true,
  resources: [C],
}
const LEGACY = {
  clientId: 'legacy',
  grantTypes: ['password' as const, 'refresh_token' as const],
  dpopBoundAccessTokens: true,
  resources: [A, B],
}
const INTROSPECTOR = { clientId: 'api', clientSecret: 'api-secret-value' }

let idp: MockIdp
/** Every request an API received (its origin), to count nonce retries. */
const received: string[] = []
let apis: Record<string, Hono<GuardEnv>>

/** An API that answers with what the guard found out about the caller. */
function api(middleware: MiddlewareHandler<GuardEnv>): Hono<GuardEnv> {
  const app = new Hono<GuardEnv>()
  app.use('*', middleware)
  app.all('*', (c) => c.json({ auth: c.get('auth') ?? null }))
  return app
}

/** The network between the session and the APIs. */
const apiFetch = async (request: Request): Promise<Response> => {
  const { origin } = new URL(request.url)
  received.push(origin)
  const app = apis[`${origin}/`]
  if (!app) throw new Error(`no API at ${origin}`)
  return app.request(request)
}

beforeAll(async () => {
  idp = await createMockIdp({ clients: [CLI, SVC, LEGACY, OPAQUE, INTROSPECTOR] })
  const jwt = (audience: string, nonce: boolean) =>
    jwtAuth({
      jwksUrl: `${idp.issuer}/jwks`,
      issuer: idp.issuer,
      audience,
      fetch: idp.fetch,
      dpop: { required: true, nonce },
    })
  apis = {
    [A]: api(jwt(A, true)), // the guard's own nonce on
    [B]: api(jwt(B, false)),
    [C]: api(
      oidcAuth({ issuer: idp.issuer, audience: C, fetch: idp.fetch, introspection: INTROSPECTOR, dpop: {} }),
    ),
  }
})

const base = (client: DriverOptions['client']): DriverOptions => ({
  issuer: idp.issuer,
  client,
  fetch: idp.fetch,
  dpop: true,
})

/** The RFC 7638 thumbprint of a stored login's DPoP public key. */
async function jktOf(record: TokenRecord): Promise<string> {
  const jwk = record.dpopKey?.jwk
  expect(jwk).toBeTruthy()
  const { kty, crv, x, y, e, n } = jwk as Record<string, string>
  return calculateJwkThumbprint({ kty, crv, x, y, e, n } as JWK)
}

/** The token endpoint's journal entries since `seq`, for one grant: status, error, proof key, nonce. */
function tokenRequests(sinceSeq: number, grantType: string) {
  return idp.control.journal
    .entries({ endpoint: 'token', grantType, sinceSeq })
    .map((e) => ({ status: e.status, error: e.error, jkt: e.dpop?.jkt, nonce: e.dpop?.nonce !== undefined }))
}

const lastSeq = () => idp.control.journal.entries().at(-1)?.seq ?? 0

function session(record: TokenRecord, client: DriverOptions['client'], resource: readonly string[]) {
  const store = memoryTokenStore()
  const s = new Session({
    issuer: idp.issuer,
    client,
    store,
    fetch: idp.fetch,
    apiFetch,
    apiOrigins: [A, B, C],
    resource,
  })
  return { session: s, store, ready: store.set(s.key, record) }
}

describe('keyfob against itself: flows + mock IdP + guard with DPoP, PAR and resource indicators', () => {
  it('device login with the IdP’s nonce switch on, then APIs, refresh with the same key, tokens per resource, userinfo', async () => {
    idp.control.dpop.requireNonce(true)
    const since = lastSeq()
    let tokens: Awaited<ReturnType<typeof deviceLogin>>
    try {
      tokens = await deviceLogin({
        ...base({ clientId: 'cli' }),
        scope: 'openid offline_access',
        resource: [A, B],
        display: ({ userCode }) => void idp.control.devices.approve(userCode),
        sleep: async () => {},
      })
    } finally {
      idp.control.dpop.requireNonce(undefined)
    }
    const record = tokens.record
    const jkt = await jktOf(record)
    expect(record.tokenType).toBe('dpop')
    const claims = decodeJwt(record.accessToken as string)
    expect(claims.cnf).toEqual({ jkt })
    // Both resources went with the device authorization; the token is for the first.
    const started = idp.control.journal.entries({ endpoint: 'device_authorization', sinceSeq: since })
    expect(started.map((e) => [e.status, e.params.resource])).toEqual([[200, `${A} ${B}`]])
    expect(claims.aud).toBe(A)
    // The first poll had no nonce and was told to get one; the client retried once with it.
    const polls = tokenRequests(since, 'urn:ietf:params:oauth:grant-type:device_code')
    expect(polls[0]).toEqual({ status: 400, error: 'use_dpop_nonce', jkt, nonce: false })
    expect(polls.at(-1)).toEqual({ status: 200, error: undefined, jkt, nonce: true })

    const { session: s, store, ready } = session(record, { clientId: 'cli' }, [A, B])
    await ready
    // The guard of A wants its own nonce: one 401 use_dpop_nonce, one retry.
    received.length = 0
    const atA = await s.fetch(`${A}jobs?page=1`, { method: 'POST', body: 'x' })
    expect(atA.status).toBe(200)
    expect((await atA.json()).auth).toMatchObject({ dpop: { jkt } })
    expect(received).toEqual([A.slice(0, -1), A.slice(0, -1)])
    // The nonce is kept: the next request goes through at once.
    received.length = 0
    expect((await s.fetch(`${A}jobs/2`)).status).toBe(200)
    expect(received.length).toBe(1)

    // A token for A is refused by B's API; B's own token, minted by a refresh naming B, is accepted.
    const handle = dpopHandle(await importDPoPKey(record.dpopKey as NonNullable<TokenRecord['dpopKey']>))
    const wrong = await dpopRequest(handle, record.accessToken as string, new Request(`${B}reports`), {
      fetch: apiFetch,
    })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toContain('invalid_token')
    expect((await wrong.json()).error_description).toContain(`this API accepts tokens for ${B}`)
    const sinceB = lastSeq()
    const forB = await s.accessToken({ resource: B })
    expect(decodeJwt(forB)).toMatchObject({ aud: B, cnf: { jkt } })
    const atB = await s.fetch(`${B}reports`)
    expect(atB.status).toBe(200)
    expect(tokenRequests(sinceB, 'refresh_token')).toEqual([
      { status: 200, error: undefined, jkt, nonce: false },
    ])

    // Refresh with the IdP's nonce on: one retry, the same key, a rotated refresh token.
    idp.control.dpop.requireNonce(true)
    const sinceRefresh = lastSeq()
    try {
      const renewed = await s.accessToken({ minTtlMs: Number.POSITIVE_INFINITY })
      expect(renewed).not.toBe(record.accessToken)
      expect(decodeJwt(renewed).cnf).toEqual({ jkt })
    } finally {
      idp.control.dpop.requireNonce(undefined)
    }
    expect(tokenRequests(sinceRefresh, 'refresh_token')).toEqual([
      { status: 400, error: 'use_dpop_nonce', jkt, nonce: false },
      { status: 200, error: undefined, jkt, nonce: true },
    ])
    const stored = await store.get(s.key)
    expect(stored?.dpopKey).toEqual(record.dpopKey)
    expect(stored?.refreshToken).not.toBe(record.refreshToken)

    // The IdP binds a public client's refresh token to the key: another key cannot use it.
    const stranger = await refreshWithAnotherKey(stored as TokenRecord)
    expect(stranger).toMatchObject({ status: 400, error: 'invalid_grant' })

    // Session.check: userinfo with DPoP.
    const sinceCheck = lastSeq()
    expect(await s.check()).toMatchObject({ active: true, via: 'userinfo' })
    const userinfo = idp.control.journal.entries({ endpoint: 'userinfo', sinceSeq: sinceCheck })
    expect(userinfo.map((e) => [e.status, e.dpop?.jkt])).toEqual([[200, jkt]])
  }, 30_000)

  it('browser login by a client the IdP requires to push (PAR): refused plain, pushed with a proof, then API calls', async () => {
    const since = lastSeq()
    const opened: string[] = []
    const tokens = await browserLogin({
      ...base({ clientId: 'cli' }),
      scope: 'openid offline_access',
      resource: [A, B],
      onUrl: () => {},
      openBrowser: async (url) => {
        opened.push(url)
        const redirect = await idp.fetch(url, { redirect: 'manual' })
        const location = redirect.headers.get('location')
        if (!location) throw new Error(`no redirect from authorize: ${redirect.status}`)
        await (await fetch(location)).text()
        return true
      },
    })
    const jkt = await jktOf(tokens.record)
    // Discovery does not say this client must push: the preflight of the plain request was
    // refused with invalid_request, so the login pushed it. The browser saw only client_id and
    // request_uri; the push carried the rest, and its proof bound the code to the key.
    const authorize = idp.control.journal.entries({ endpoint: 'authorize', sinceSeq: since })
    expect(authorize.map((e) => [e.error, e.params.request_uri !== undefined])).toEqual([
      ['invalid_request', false],
      [undefined, true],
    ])
    expect([...new URL(opened[0] as string).searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
    const pushed = idp.control.journal.entries({ endpoint: 'par', sinceSeq: since })
    expect(pushed.map((e) => e.status)).toEqual([201])
    expect(pushed[0]?.dpop?.jkt).toBe(jkt)
    const exchange = tokenRequests(since, 'authorization_code')
    expect(exchange).toEqual([{ status: 200, error: undefined, jkt, nonce: false }])
    expect(decodeJwt(tokens.record.accessToken as string)).toMatchObject({ aud: A, cnf: { jkt } })

    const { session: s, ready } = session(tokens.record, { clientId: 'cli' }, [A, B])
    await ready
    expect((await s.fetch(`${A}jobs`)).status).toBe(200)
    expect((await s.fetch(`${B}reports`)).status).toBe(200)

    // With par: false the refusal is the answer: the provider's own error, and no browser.
    let openedPlain = false
    const plain = browserLogin({
      ...base({ clientId: 'cli' }),
      par: false,
      onUrl: () => {},
      openBrowser: async () => {
        openedPlain = true
        return true
      },
    })
    expect(await codeOf(plain)).toBe('ERR_INVALID_REQUEST')
    expect(openedPlain).toBe(false)
  }, 30_000)

  it('client credentials with two resources: one token both APIs accept', async () => {
    const since = lastSeq()
    const client = { clientId: SVC.clientId, clientSecret: SVC.clientSecret }
    const tokens = await clientCredentials({ ...base(client), resource: [A, B] })
    const jkt = await jktOf(tokens.record)
    expect(decodeJwt(tokens.record.accessToken as string)).toMatchObject({ aud: [A, B], cnf: { jkt } })
    expect(tokenRequests(since, 'client_credentials')).toEqual([
      { status: 200, error: undefined, jkt, nonce: false },
    ])
    const { session: s, ready } = session(tokens.record, client, [A, B])
    await ready
    received.length = 0
    expect((await s.fetch(`${A}jobs`)).status).toBe(200)
    expect((await s.fetch(`${B}reports`)).status).toBe(200)
    // A's guard asked for its nonce once (a new key, a new session); B has none.
    expect(received).toEqual([A, A, B].map((o) => o.slice(0, -1)))
  }, 30_000)

  it('password grant with DPoP and a resource: a bound token the API accepts, refreshed with the same key', async () => {
    const since = lastSeq()
    const client = { clientId: LEGACY.clientId }
    const tokens = await passwordLogin({
      ...base(client),
      resource: [B],
      username: 'alice',
      password: 'alice',
    })
    const jkt = await jktOf(tokens.record)
    expect(decodeJwt(tokens.record.accessToken as string)).toMatchObject({ aud: B, cnf: { jkt } })
    expect(tokenRequests(since, 'password')).toEqual([{ status: 200, error: undefined, jkt, nonce: false }])
    const { session: s, ready } = session(tokens.record, client, [B])
    await ready
    expect((await s.fetch(`${B}reports`)).status).toBe(200)
    // The refresh token of this public client is bound to the key: the session refreshes with it.
    const refreshed = await s.accessToken({ minTtlMs: Number.POSITIVE_INFINITY })
    expect(decodeJwt(refreshed)).toMatchObject({ cnf: { jkt } })
    expect(tokenRequests(since, 'refresh_token')).toEqual([
      { status: 200, error: undefined, jkt, nonce: false },
    ])
  }, 30_000)

  it('an opaque DPoP-bound token, checked by the guard through introspection', async () => {
    const client = { clientId: OPAQUE.clientId, clientSecret: OPAQUE.clientSecret }
    const tokens = await clientCredentials({ ...base(client), resource: [C] })
    const jkt = await jktOf(tokens.record)
    expect((tokens.record.accessToken as string).split('.').length).toBe(1)
    const { session: s, ready } = session(tokens.record, client, [C])
    await ready
    const since = lastSeq()
    const response = await s.fetch(`${C}items`)
    expect(response.status).toBe(200)
    expect((await response.json()).auth).toMatchObject({ scheme: 'introspection', dpop: { jkt } })
    expect(
      idp.control.journal.entries({ endpoint: 'introspection', sinceSeq: since }).map((e) => e.status),
    ).toEqual([200])
  }, 30_000)
})

/** A refresh of `record`'s refresh token signed by a key that is not the bound one. */
async function refreshWithAnotherKey(record: TokenRecord): Promise<{ status: number; error?: string }> {
  const other = await generateDPoPKey('ES256')
  const url = `${idp.issuer}/token`
  const body = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: record.refreshToken as string,
    client_id: 'cli',
  })
  const jwk = await exportJWK(other.keyPair.publicKey)
  const dpop = await new SignJWT({ htm: 'POST', htu: url, jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .setIssuedAt()
    .sign(other.keyPair.privateKey)
  const response = await idp.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop },
    body,
  })
  return { status: response.status, ...(await response.json()) }
}
