/**
 * Bounded state: every map is capped (oldest evicted first) and pruned of expired entries on the
 * IdP's clock, so a mock IdP shared by a long test run cannot run out of memory.
 */
import { describe, expect, it } from 'vitest'
import { createMockIdp, type MockIdpError } from '../src/index.ts'
import { basic, post, postJson } from './helpers.ts'

const CLIENTS = [
  { clientId: 'cli', redirectUris: ['http://127.0.0.1/callback'] },
  { clientId: 'svc', clientSecret: 's3cret-value', accessTokenFormat: 'opaque' as const },
]
const SVC = { authorization: basic('svc', 's3cret-value') }
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'

function authorizeUrl(issuer: string): string {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: 'cli',
    redirect_uri: 'http://127.0.0.1:4000/callback',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    scope: 'openid',
  })
  return `${issuer}/authorize?${q}`
}

describe('bounded state', () => {
  it('caps unauthenticated authorization requests: pending logins and codes', async () => {
    const form = await createMockIdp({ clients: CLIENTS, login: 'form', limits: { pendingLogins: 20 } })
    for (let i = 0; i < 200; i++) expect((await form.fetch(authorizeUrl(form.issuer))).status).toBe(200)
    expect(form.control.stats().pendingLogins).toBe(20)

    const headless = await createMockIdp({ clients: CLIENTS, limits: { codes: 20 } })
    for (let i = 0; i < 200; i++)
      expect((await headless.fetch(authorizeUrl(headless.issuer))).status).toBe(302)
    expect(headless.control.stats().codes).toBe(20)
  })

  it('evicts the oldest device authorization with its user code', async () => {
    const idp = await createMockIdp({ clients: CLIENTS, limits: { devices: 10 } })
    const userCodes: string[] = []
    for (let i = 0; i < 30; i++) {
      const { body } = await postJson(idp, '/device_authorization', { client_id: 'cli' })
      userCodes.push(String(body.user_code))
    }
    expect(idp.control.stats().devices).toBe(10)
    expect(idp.control.devices.list().map((d) => d.userCode)).toEqual(userCodes.slice(-10))
    let error: unknown
    try {
      idp.control.devices.approve(userCodes[0] ?? '')
    } catch (e) {
      error = e
    }
    expect((error as MockIdpError).code).toBe('ERR_UNKNOWN_USER_CODE')
    expect(idp.control.devices.approve(userCodes[29] ?? '').status).toBe('approved')
  })

  it('evicts the oldest token records at the cap: the evicted token stops being valid', async () => {
    const idp = await createMockIdp({ clients: CLIENTS, limits: { accessTokens: 50 } })
    const tokens: string[] = []
    for (let i = 0; i < 120; i++) {
      const { body } = await postJson(idp, '/token', { grant_type: 'client_credentials' }, SVC)
      tokens.push(String(body.access_token))
    }
    expect(idp.control.stats().accessTokens).toBe(50)
    const active = async (token: string) => (await postJson(idp, '/introspect', { token }, SVC)).body.active
    expect(await active(tokens[0] ?? '')).toBe(false)
    expect(await active(tokens[119] ?? '')).toBe(true)
  })

  it('prunes expired records on the mock clock without waiting for the cap', async () => {
    const idp = await createMockIdp({ clients: CLIENTS })
    idp.control.clock.freeze()
    for (let i = 0; i < 100; i++) {
      await post(idp, '/token', { grant_type: 'client_credentials' }, SVC)
      await idp.control.tokens.issue({ clientId: 'cli', sub: 'alice', scope: 'openid', refresh: true })
    }
    expect(idp.control.stats()).toMatchObject({ accessTokens: 200, refreshTokens: 100, grants: 100 })
    // Every token of the first batch has expired (refresh tokens live 30 days).
    idp.control.clock.advance(31 * 86_400_000)
    for (let i = 0; i < 100; i++) {
      await post(idp, '/token', { grant_type: 'client_credentials' }, SVC)
      await idp.control.tokens.issue({ clientId: 'cli', sub: 'alice', scope: 'openid', refresh: true })
    }
    expect(idp.control.stats()).toMatchObject({ accessTokens: 200, refreshTokens: 100, grants: 100 })
  })

  it('rejects a limit that is not a positive integer, naming it', async () => {
    for (const limits of [{ codes: 0 }, { devices: 1.5 }, { nonsense: 3 }]) {
      const error = await createMockIdp({ limits: limits as never }).catch((e: unknown) => e)
      expect((error as MockIdpError).code).toBe('ERR_INVALID_OPTION')
      expect((error as MockIdpError).message).toContain(`limits.${Object.keys(limits)[0]}`)
    }
  })
})
