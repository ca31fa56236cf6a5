/** Every token an attacker (or a sloppy client) might send, each refused with the right status and error. */
import type { MockIdp } from '@keyfob/mock-idp'
import { exportSPKI, importJWK, type JWK, SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { type GuardReason, jwtAuth } from '../src/index.ts'
import {
  AUDIENCE,
  accessToken,
  b64url,
  get,
  jwksFetches,
  payloadOf,
  protectedApp,
  recorder,
  signed,
  testIdp,
  withToken,
} from './helpers.ts'

let idp: MockIdp
let other: MockIdp
let valid: string
const log = recorder()
let app: ReturnType<typeof protectedApp>

beforeAll(async () => {
  idp = await testIdp()
  // Another IdP claiming the same issuer, with its own key: its kid is unknown to ours.
  other = await testIdp({ issuer: 'https://mock-idp.test', keys: 'generate', signingAlg: 'ES256' })
  app = protectedApp(
    jwtAuth({
      jwksUrl: `${idp.issuer}/jwks`,
      issuer: idp.issuer,
      audience: AUDIENCE,
      fetch: idp.fetch,
      onEvent: log.onEvent,
    }),
  )
  valid = await accessToken(idp)
})

/** The RFC 6750 shape of a rejected token, and no echo of it anywhere. */
async function expectInvalidToken(response: Response, token: string, reason: GuardReason): Promise<void> {
  expect(response.status).toBe(401)
  const challenge = response.headers.get('www-authenticate') ?? ''
  expect(challenge).toMatch(/^Bearer /)
  expect(challenge).toContain('error="invalid_token"')
  const body = await response.json()
  expect(body.error).toBe('invalid_token')
  expect(typeof body.error_description).toBe('string')
  expect(response.headers.get('cache-control')).toBe('no-store')
  const last = log.events[log.events.length - 1]
  expect(last?.reason).toBe(reason)
  expect(last?.outcome).toBe('deny')
  const evidence = JSON.stringify({ body, challenge, event: last })
  // Neither the token nor its signature leaks into the answer or the log event.
  expect(evidence).not.toContain(token)
  const signature = token.split('.')[2]
  if (signature && signature.length > 8) expect(evidence).not.toContain(signature)
}

describe('attack matrix (jwtAuth, tokens from the mock IdP)', () => {
  it('accepts the genuine token (the control case)', async () => {
    const response = await withToken(app, valid)
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body.auth.subject).toBe('svc')
    expect(body.auth.scopes).toEqual(['read'])
  })

  it('alg: none (unsigned) is refused without touching the JWKS', async () => {
    const before = jwksFetches(idp)
    const [, payload] = valid.split('.')
    const token = `${b64url(JSON.stringify({ alg: 'none', typ: 'at+jwt' }))}.${payload}.`
    await expectInvalidToken(await withToken(app, token), token, 'bad_alg')
    expect(jwksFetches(idp)).toBe(before)
  })

  it('HS256 signed with the IdP public key (RS/HS confusion) is refused', async () => {
    const jwk = idp.control.keys.list()[0]?.publicJwk as JWK
    const pem = await exportSPKI((await importJWK(jwk, 'RS256', { extractable: true })) as CryptoKey)
    for (const secret of [pem, JSON.stringify(jwk)]) {
      const token = await new SignJWT(payloadOf(valid))
        .setProtectedHeader({ alg: 'HS256', kid: jwk.kid as string, typ: 'at+jwt' })
        .sign(new TextEncoder().encode(secret))
      await expectInvalidToken(await withToken(app, token), token, 'bad_alg')
    }
  })

  it('an expired token is refused with "expired"', async () => {
    const now = Math.floor(Date.now() / 1000)
    const token = await signed(idp, { iat: now - 7200, exp: now - 3600 })
    const response = await withToken(app, token)
    expect((await response.clone().json()).error_description).toBe('the access token expired')
    await expectInvalidToken(response, token, 'expired')
  })

  it('nbf in the future is refused', async () => {
    const now = Math.floor(Date.now() / 1000)
    const token = await signed(idp, { nbf: now + 3600, exp: now + 7200 })
    await expectInvalidToken(await withToken(app, token), token, 'not_yet_valid')
  })

  it('a wrong iss is refused (no JWKS fetch for it)', async () => {
    const before = jwksFetches(idp)
    const token = await signed(idp, { iss: 'https://evil.example' })
    await expectInvalidToken(await withToken(app, token), token, 'bad_iss')
    expect(jwksFetches(idp)).toBe(before)
  })

  it('a wrong aud (a token for another service) is refused', async () => {
    const token = await signed(idp, { aud: 'https://other-service.example' })
    await expectInvalidToken(await withToken(app, token), token, 'bad_aud')
  })

  it('a token without aud is refused', async () => {
    const token = await signed(idp, { aud: undefined })
    await expectInvalidToken(await withToken(app, token), token, 'bad_aud')
  })

  it('a token without exp is refused (exp is required unless waived)', async () => {
    const token = await signed(idp, { exp: undefined })
    await expectInvalidToken(await withToken(app, token), token, 'bad_claim')
  })

  it('an unknown kid (a key the IdP never published) is refused', async () => {
    const token = await signed(other)
    await expectInvalidToken(await withToken(app, token), token, 'unknown_kid')
  })

  it('a tampered payload (scope raised) is refused', async () => {
    const [header, , signature] = valid.split('.')
    const payload = b64url(JSON.stringify({ ...payloadOf(valid), scope: 'read write admin' }))
    const token = `${header}.${payload}.${signature}`
    await expectInvalidToken(await withToken(app, token), token, 'bad_signature')
  })

  it('a truncated token is refused (signature cut, or parts missing)', async () => {
    const cut = valid.slice(0, valid.length - 12)
    await expectInvalidToken(await withToken(app, cut), cut, 'bad_signature')
    const twoParts = valid.split('.').slice(0, 2).join('.')
    await expectInvalidToken(await withToken(app, twoParts), twoParts, 'malformed')
  })

  it('garbage that is a b64token but not a JWT is refused, never a 500', async () => {
    for (const token of [
      'abc',
      'a.b.c',
      `${b64url('null')}.${b64url('{}')}.sig`,
      `${b64url('{"alg":"RS256"}')}.${b64url('null')}.sig`,
      `${b64url('{"alg":"RS256"}')}.${b64url('[1,2]')}.sig`,
      `${b64url('{"alg":"RS256","kid":"x"}')}.!!!.sig`.replace('!!!', 'Zm9v'),
    ]) {
      const response = await withToken(app, token)
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"')
    }
  })

  it('an oversized token (signed by the IdP, 10 kB of claims) is refused before decoding', async () => {
    const token = await signed(idp, { pad: 'x'.repeat(10_000) })
    await expectInvalidToken(await withToken(app, token), token, 'too_large')
    const huge = 'A'.repeat(100_000)
    await expectInvalidToken(await withToken(app, huge), huge, 'too_large')
  })

  it('an oversized kid header is refused before any key lookup', async () => {
    const [, payload, signature] = valid.split('.')
    const token = `${b64url(JSON.stringify({ alg: 'RS256', kid: 'k'.repeat(1000) }))}.${payload}.${signature}`
    await expectInvalidToken(await withToken(app, token), token, 'malformed')
  })

  it('a JWT of another type (typ: dpop+jwt) is refused', async () => {
    const token = await signed(idp, {}, 'dpop+jwt')
    await expectInvalidToken(await withToken(app, token), token, 'bad_typ')
  })

  it('the scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are accepted', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer', 'bEaReR']) {
      const response = await get(app, '/collections', { authorization: `${scheme} ${valid}` })
      expect(response.status).toBe(200)
    }
  })

  it('two Authorization headers are 400 invalid_request (RFC 6750 §3.1)', async () => {
    const headers = new Headers()
    headers.append('authorization', `Bearer ${valid}`)
    headers.append('authorization', `Bearer ${valid}`)
    const response = await get(app, '/collections', headers)
    expect(response.status).toBe(400)
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_request"')
    expect((await response.json()).error).toBe('invalid_request')
    expect(log.events[log.events.length - 1]?.reason).toBe('malformed')
  })

  it('a malformed Bearer credential is 400 invalid_request', async () => {
    for (const value of ['Bearer', 'Bearer ', `Bearer ${valid} extra`, 'Bearer a"b']) {
      const response = await get(app, '/collections', { authorization: value })
      expect(response.status).toBe(400)
      expect((await response.json()).error).toBe('invalid_request')
    }
  })

  it('no credential, or only a Basic one, is 401 with a bare challenge (no error attribute, RFC 6750 §3.1)', async () => {
    for (const headers of [{}, { authorization: 'Basic YWxpY2U6YWxpY2U=' }]) {
      const response = await get(app, '/collections', headers)
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer')
      const body = await response.json()
      expect(body.error).toBe('missing_credentials')
      expect(body.error_description).toBe('authentication required')
    }
  })

  it('OPTIONS without preflight handling configured is authenticated like any method', async () => {
    const response = await get(
      app,
      '/collections',
      { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' },
      'OPTIONS',
    )
    expect(response.status).toBe(401)
  })
})
