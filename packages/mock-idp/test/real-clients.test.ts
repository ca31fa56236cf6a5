/**
 * Real, independent clients, reproduced request by request: the exact parameters, their order
 * and encoding, the client authentication style and the timing each client uses. Sources:
 * openEO Python client `openeo/rest/auth/oidc.py` (requests, form bodies from dicts in insertion
 * order, `urllib.parse.urlencode`); Go `golang.org/x/oauth2` `deviceauth.go` and
 * `internal/token.go` (`url.Values.Encode()` sorts keys; AuthStyleAutoDetect tries HTTP Basic
 * first, then the body, on every error).
 */
import { describe, expect, it } from 'vitest'
import { createMockIdp, type MockIdp, type MockIdpOptions } from '../src/index.ts'
import { b64url, decodeJwt } from './helpers.ts'

/** The headers `requests` sends with `requests.post(url, data=dict)`. */
const PYTHON_REQUESTS = {
  'user-agent': 'python-requests/2.32.3',
  'accept-encoding': 'gzip, deflate',
  accept: '*/*',
  connection: 'keep-alive',
  'content-type': 'application/x-www-form-urlencoded',
}
/** The headers Go's net/http and x/oauth2 send on a token request. */
const GO_TOKEN = {
  'user-agent': 'Go-http-client/1.1',
  'content-type': 'application/x-www-form-urlencoded',
  'accept-encoding': 'gzip',
}
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

/** Python's `urllib.parse.urlencode` (quote_plus: space is `+`, `/` and `:` are escaped). */
function pyUrlencode(pairs: ReadonlyArray<readonly [string, string]>): string {
  const quote = (v: string) =>
    encodeURIComponent(v)
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replaceAll('%20', '+')
  return pairs.map(([k, v]) => `${quote(k)}=${quote(v)}`).join('&')
}

/** Go's `url.Values.Encode()`: keys sorted, QueryEscape (space is `+`). */
function goEncode(values: Record<string, string>): string {
  return Object.keys(values)
    .sort()
    .map((k) => `${goEscape(k)}=${goEscape(values[k] ?? '')}`)
    .join('&')
}
function goEscape(v: string): string {
  return encodeURIComponent(v)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replaceAll('%20', '+')
}

async function send(
  idp: MockIdp,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await idp.fetch(`${idp.issuer}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-length': String(new TextEncoder().encode(body).byteLength) },
    body,
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe('openEO Python client: authenticate_oidc_client_credentials()', () => {
  // OidcClientCredentialsAuthenticator: client_secret in the body (client_secret_post) and
  // scope = sorted({"openid"} ∪ backend scopes) ∩ scopes_supported, here just "openid".
  const body = pyUrlencode([
    ['grant_type', 'client_credentials'],
    ['client_id', 'svc'],
    ['client_secret', 's3cret-value'],
    ['scope', 'openid'],
  ])
  const clients = [{ clientId: 'svc', clientSecret: 's3cret-value' }]

  it('gets a token without openid and without an ID token, with the granted scope reported', async () => {
    expect(body).toBe('grant_type=client_credentials&client_id=svc&client_secret=s3cret-value&scope=openid')
    const idp = await createMockIdp({ clients })
    const answer = await send(idp, '/token', PYTHON_REQUESTS, body)
    expect(answer.status).toBe(200)
    // openEO reads token_type with data["token_type"] and requires "bearer", case-insensitive.
    expect(String(answer.body.token_type).toLowerCase()).toBe('bearer')
    expect(typeof answer.body.access_token).toBe('string')
    expect(answer.body.id_token).toBeUndefined()
    // RFC 6749 §5.1: the granted scope differs from the requested one, so it is in the answer.
    expect(answer.body.scope).toBe('')
    expect(decodeJwt(String(answer.body.access_token)).payload.scope).toBeUndefined()
  })

  it('keeps the other scopes it asked for (sorted, space-joined) and drops openid', async () => {
    const idp = await createMockIdp({ clients })
    const withScopes = pyUrlencode([
      ['grant_type', 'client_credentials'],
      ['client_id', 'svc'],
      ['client_secret', 's3cret-value'],
      ['scope', 'email openid profile'],
    ])
    expect(withScopes).toContain('&scope=email+openid+profile')
    const answer = await send(idp, '/token', PYTHON_REQUESTS, withScopes)
    expect(answer.status).toBe(200)
    expect(answer.body.scope).toBe('email profile')
  })

  it('is refused, naming the option, under strict.scopes', async () => {
    const idp = await createMockIdp({ clients, strict: { scopes: true } })
    const answer = await send(idp, '/token', PYTHON_REQUESTS, body)
    expect(answer.status).toBe(400)
    expect(answer.body.error).toBe('invalid_scope')
    expect(answer.body.error_description).toContain('strict.scopes')
  })
})

describe('openEO Python client: authenticate_oidc_authorization_code()', () => {
  // OidcAuthCodePkceAuthenticator: an HTTPServer on ("", 0), redirect URI always
  // http://localhost:<port>/callback; 64-char [A-Za-z0-9] verifier, S256; state 32, nonce 21 chars.
  const alnum = (n: number) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) =>
      'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.charAt(b % 62),
    ).join('')

  async function login(options: MockIdpOptions, port: number) {
    const idp = await createMockIdp(options)
    const verifier = alnum(64)
    const challenge = b64url(
      new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
    )
    const state = alnum(32)
    const nonce = alnum(21)
    const redirectUri = `http://localhost:${port}/callback`
    const query = pyUrlencode([
      ['response_type', 'code'],
      ['client_id', 'openeo-cli'],
      ['scope', 'openid'],
      ['redirect_uri', redirectUri],
      ['state', state],
      ['nonce', nonce],
      ['code_challenge', challenge],
      ['code_challenge_method', 'S256'],
    ])
    expect(query).toContain(`&redirect_uri=http%3A%2F%2Flocalhost%3A${port}%2Fcallback&`)
    const browser = await idp.fetch(`${idp.issuer}/authorize?${query}`, {
      headers: { 'user-agent': 'Mozilla/5.0', accept: 'text/html' },
    })
    return { idp, browser, verifier, state, nonce, redirectUri }
  }

  const client = { clientId: 'openeo-cli', redirectUris: ['http://localhost/callback'] }

  it('logs in with the default localhost redirect URI on a random port', async () => {
    const port = 40_000 + ((crypto.getRandomValues(new Uint16Array(1))[0] ?? 0) % 20_000)
    const { idp, browser, verifier, state, nonce, redirectUri } = await login({ clients: [client] }, port)
    expect(browser.status).toBe(302)
    const location = new URL(browser.headers.get('location') ?? '')
    expect(`${location.origin}${location.pathname}`).toBe(redirectUri)
    expect(location.searchParams.get('state')).toBe(state)
    const code = location.searchParams.get('code') ?? ''
    // dict_no_none(grant_type, client_id, client_secret=None, redirect_uri, code, code_verifier)
    const body = pyUrlencode([
      ['grant_type', 'authorization_code'],
      ['client_id', 'openeo-cli'],
      ['redirect_uri', redirectUri],
      ['code', code],
      ['code_verifier', verifier],
    ])
    const answer = await send(idp, '/token', PYTHON_REQUESTS, body)
    expect(answer.status).toBe(200)
    expect(decodeJwt(String(answer.body.id_token)).payload.nonce).toBe(nonce)
  })

  it('is refused, naming the option, under strict.localhostRedirects or localhostAnyPort: false', async () => {
    for (const options of [
      { clients: [client], strict: { localhostRedirects: true } },
      { clients: [{ ...client, localhostAnyPort: false }] },
    ]) {
      const { browser } = await login(options, 43_210)
      expect(browser.status).toBe(400)
      const error = (await browser.json()) as Record<string, string>
      expect(error.error).toBe('invalid_request')
      expect(error.error_description).toContain('localhost')
      expect(error.error_description).toMatch(/strict\.localhostRedirects|localhostAnyPort/)
    }
    // The exact registered URI still matches in strict mode.
    const idp = await createMockIdp({
      clients: [{ ...client, redirectUris: ['http://localhost:43210/callback'] }],
      strict: true,
    })
    expect(
      (
        await idp.fetch(
          `${idp.issuer}/authorize?response_type=code&client_id=openeo-cli&redirect_uri=${encodeURIComponent('http://localhost:43210/callback')}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`,
        )
      ).status,
    ).toBe(302)
  })
})

describe('Go golang.org/x/oauth2: DeviceAuth + DeviceAccessToken (as in git-credential-oauth)', () => {
  const client = { clientId: 'git-cli', redirectUris: ['http://127.0.0.1/callback'] }

  /**
   * One tick of DeviceAccessToken with AuthStyleAutoDetect: Basic `git-cli:` (empty secret) and the
   * sorted body; on any error (even authorization_pending) the same body without the header.
   */
  async function tick(idp: MockIdp, deviceCode: string) {
    const body = goEncode({
      client_id: 'git-cli',
      grant_type: DEVICE_GRANT,
      device_code: deviceCode,
      scope: 'openid offline_access',
    })
    expect(body.startsWith('client_id=git-cli&device_code=')).toBe(true)
    const header = await send(
      idp,
      '/token',
      { ...GO_TOKEN, authorization: `Basic ${btoa('git-cli:')}` },
      body,
    )
    if (header.status === 200) return header
    expect(header.status).toBe(401)
    expect(header.body.error).toBe('invalid_client')
    return send(idp, '/token', GO_TOKEN, body)
  }

  async function start(options: MockIdpOptions = {}) {
    const idp = await createMockIdp({ clients: [client], ...options })
    idp.control.clock.freeze()
    const auth = await send(
      idp,
      '/device_authorization',
      { ...GO_TOKEN, accept: 'application/json' },
      goEncode({ client_id: 'git-cli', scope: 'openid offline_access' }),
    )
    expect(auth.status).toBe(200)
    return { idp, deviceCode: String(auth.body.device_code), userCode: String(auth.body.user_code) }
  }

  it('accepts polls on a fixed 5 s timer that arrive 2 ms early, and the Basic probe is not a poll', async () => {
    const { idp, deviceCode, userCode } = await start()
    expect((await tick(idp, deviceCode)).body.error).toBe('authorization_pending')
    for (let i = 0; i < 3; i++) {
      idp.control.clock.advance(5_000 - 2)
      expect((await tick(idp, deviceCode)).body.error).toBe('authorization_pending')
    }
    expect(idp.control.devices.list()[0]?.intervalS).toBe(5)
    idp.control.devices.approve(userCode)
    idp.control.clock.advance(5_000 - 2)
    const done = await tick(idp, deviceCode)
    expect(done.status).toBe(200)
    expect(typeof done.body.refresh_token).toBe('string')
    // Each tick was two requests: the Basic probe (401, no poll) and the body retry (the poll).
    const token = idp.control.journal.entries({ endpoint: 'token' })
    expect(token.map((e) => e.status)).toEqual([401, 400, 401, 400, 401, 400, 401, 400, 401, 200])
  })

  it('slows down a poll 1 s early, and one 2 ms early under strict.devicePolling', async () => {
    const tolerant = await start()
    await tick(tolerant.idp, tolerant.deviceCode)
    tolerant.idp.control.clock.advance(5_000 - 1_000)
    expect((await tick(tolerant.idp, tolerant.deviceCode)).body.error).toBe('slow_down')
    expect(tolerant.idp.control.devices.list()[0]?.intervalS).toBe(10)

    const strict = await start({ strict: { devicePolling: true } })
    await tick(strict.idp, strict.deviceCode)
    strict.idp.control.clock.advance(5_000 - 2)
    const slowed = await tick(strict.idp, strict.deviceCode)
    expect(slowed.body.error).toBe('slow_down')
    expect(slowed.body.error_description).toContain('strict.devicePolling')
  })

  it('honours devicePollToleranceMs', async () => {
    const { idp, deviceCode } = await start({ devicePollToleranceMs: 1_500 })
    await tick(idp, deviceCode)
    idp.control.clock.advance(5_000 - 1_000)
    expect((await tick(idp, deviceCode)).body.error).toBe('authorization_pending')
  })
})

describe('Basic with an empty secret, then client_id in the body (public clients)', () => {
  it('fails the probe with 401 without consuming the authorization code', async () => {
    const idp = await createMockIdp({
      clients: [{ clientId: 'cli', redirectUris: ['http://127.0.0.1/callback'] }],
    })
    const verifier = 'v'.repeat(43)
    const challenge = b64url(
      new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
    )
    const redirect = await idp.fetch(
      `${idp.issuer}/authorize?response_type=code&client_id=cli&redirect_uri=${encodeURIComponent('http://127.0.0.1:5000/callback')}&code_challenge=${challenge}&code_challenge_method=S256&scope=openid`,
    )
    const code = new URL(redirect.headers.get('location') ?? '').searchParams.get('code') ?? ''
    const body = goEncode({
      code,
      code_verifier: verifier,
      grant_type: 'authorization_code',
      redirect_uri: 'http://127.0.0.1:5000/callback',
    })
    const probe = await send(idp, '/token', { ...GO_TOKEN, authorization: `Basic ${btoa('cli:')}` }, body)
    expect(probe.status).toBe(401)
    const retry = await send(idp, '/token', GO_TOKEN, `${body}&client_id=cli`)
    expect(retry.status).toBe(200)
    expect(typeof retry.body.id_token).toBe('string')
  })
})
