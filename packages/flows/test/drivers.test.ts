/** The drivers end to end against @keyfob/mock-idp: in-process HTTP, sleeps on the mock clock. */
import { KeyfobError } from '@keyfob/core'
import { createMockIdp, type MockIdp } from '@keyfob/mock-idp'
import { describe, expect, it } from 'vitest'
import {
  basicAuthorization,
  browserLogin,
  clientCredentials,
  type DeviceCodeDisplay,
  type DriverOptions,
  deviceLogin,
  passwordLogin,
  refreshTokens,
} from '../src/index.ts'
import { codeOf } from './helpers.ts'

async function setup(): Promise<{
  idp: MockIdp
  base: (clientId: string, clientSecret?: string) => DriverOptions
}> {
  const idp = await createMockIdp({
    clients: [
      { clientId: 'cli', redirectUris: ['http://127.0.0.1/callback'] },
      {
        clientId: 'svc',
        clientSecret: 'svc-secret',
        grantTypes: ['client_credentials', 'password', 'refresh_token'],
      },
    ],
  })
  idp.control.clock.freeze()
  const base = (clientId: string, clientSecret?: string): DriverOptions => ({
    issuer: idp.issuer,
    client: { clientId, ...(clientSecret ? { clientSecret } : {}) },
    fetch: idp.fetch,
    now: () => idp.control.clock.now(),
    sleep: async (untilMs) => idp.control.clock.set(Math.max(untilMs, idp.control.clock.now())),
  })
  return { idp, base }
}

describe('deviceLogin', () => {
  it('shows the complete URL and code, polls until approved, and returns tokens', async () => {
    const { idp, base } = await setup()
    const shown: DeviceCodeDisplay[] = []
    let polls = 0
    const tokens = await deviceLogin({
      ...base('cli'),
      display: (info) => {
        shown.push(info)
      },
      sleep: async (untilMs) => {
        polls += 1
        idp.control.clock.set(untilMs)
        if (polls === 3) idp.control.devices.approve(shown[0]?.userCode ?? '')
      },
    })
    expect(shown[0]?.verificationUriComplete).toBe(`${idp.issuer}/device?user_code=${shown[0]?.userCode}`)
    expect(tokens.refreshToken).toBeTruthy()
    expect(tokens.isExpired(idp.control.clock.now())).toBe(false)
    const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code'
    expect(idp.control.journal.entries({ grantType: deviceGrant }).map((e) => e.error ?? 'ok')).toEqual([
      'authorization_pending',
      'authorization_pending',
      'ok',
    ])
  })

  it("uses PKCE for openEO's device_code+pkce clients and sends the provider's extra parameters", async () => {
    const { idp, base } = await setup()
    const grantTypes = ['urn:ietf:params:oauth:grant-type:device_code+pkce', 'refresh_token']
    const tokens = await deviceLogin({
      ...base('cli'),
      client: { clientId: 'cli', grantTypes },
      authorizationParameters: { claims_locales: 'de' },
      display: (info) => void idp.control.devices.approve(info.userCode),
      sleep: async (untilMs) => idp.control.clock.set(untilMs),
    })
    expect(tokens.accessToken).toBeTruthy()
    const [authorization] = idp.control.journal.entries({ endpoint: 'device_authorization' })
    expect(authorization?.params).toMatchObject({ code_challenge_method: 'S256', claims_locales: 'de' })
    expect(authorization?.params.code_challenge).toMatch(/^[\w-]{43}$/)
    // The mock IdP checks the verifier against the challenge: a poll without it would fail.
    const polls = idp.control.journal.entries({ grantType: 'urn:ietf:params:oauth:grant-type:device_code' })
    expect(polls.map((e) => [e.status, 'code_verifier' in e.params])).toEqual([[200, true]])

    // A client with a secret, or pkce: false, does without.
    idp.control.journal.clear()
    await deviceLogin({
      ...base('cli'),
      client: { clientId: 'cli', grantTypes },
      pkce: false,
      display: (info) => void idp.control.devices.approve(info.userCode),
      sleep: async (untilMs) => idp.control.clock.set(untilMs),
    })
    const [plain] = idp.control.journal.entries({ endpoint: 'device_authorization' })
    expect(plain?.params.code_challenge).toBeUndefined()
  })

  it('ends with ERR_ACCESS_DENIED, ERR_TIMEOUT or ERR_ABORTED', async () => {
    const { idp, base } = await setup()
    expect(
      await codeOf(
        deviceLogin({ ...base('cli'), display: (i) => void idp.control.devices.deny(i.userCode) }),
      ),
    ).toBe('ERR_ACCESS_DENIED')
    expect(await codeOf(deviceLogin({ ...base('cli'), maxPollMs: 20_000, display: () => {} }))).toBe(
      'ERR_TIMEOUT',
    )
    const controller = new AbortController()
    expect(
      await codeOf(
        deviceLogin({ ...base('cli'), signal: controller.signal, display: () => controller.abort() }),
      ),
    ).toBe('ERR_ABORTED')
  })

  it('retries a poll after a transient failure, without failing the login', async () => {
    const { idp, base } = await setup()
    const tokens = await deviceLogin({
      ...base('cli'),
      display: (info) => {
        idp.control.devices.approve(info.userCode)
        idp.control.faults.inject({ endpoint: 'token', status: 502, body: '<h1>Bad Gateway</h1>' })
      },
    })
    expect(tokens.accessToken).toBeTruthy()
  })
})

describe('clientCredentials, passwordLogin, refreshTokens', () => {
  it('client credentials retries once after a 503', async () => {
    const { idp, base } = await setup()
    idp.control.faults.inject({ endpoint: 'token', status: 503, error: 'temporarily_unavailable' })
    const tokens = await clientCredentials({ ...base('svc', 'svc-secret'), scope: 'profile' })
    expect(tokens.record.scope).toBe('profile')
    expect(idp.control.journal.entries({ endpoint: 'token' })).toHaveLength(2)
  })

  it('a wrong secret is ERR_INVALID_CLIENT, and nothing in the error shows the secret', async () => {
    const { base } = await setup()
    const error = await clientCredentials(base('svc', 'wrong-secret-value')).catch((e: unknown) => e)
    expect((error as KeyfobError).code).toBe('ERR_INVALID_CLIENT')
    expect(`${(error as Error).message} ${JSON.stringify((error as Error).cause)}`).not.toContain(
      'wrong-secret-value',
    )
  })

  it('password login, then refresh with rotation; a refresh is never retried', async () => {
    const { idp, base } = await setup()
    expect(
      await codeOf(passwordLogin({ ...base('svc', 'svc-secret'), username: 'alice', password: 'nope' })),
    ).toBe('ERR_INVALID_GRANT')
    const first = await passwordLogin({
      ...base('svc', 'svc-secret'),
      username: 'alice',
      password: 'alice',
      scope: 'openid',
    })
    const second = await refreshTokens({ ...base('svc', 'svc-secret'), record: first.record })
    expect(second.refreshToken).not.toBe(first.refreshToken)
    idp.control.faults.inject({ endpoint: 'token', status: 503, error: 'temporarily_unavailable' })
    // A faulted request is journaled before it is parsed, so count token endpoint calls.
    const before = idp.control.journal.entries({ endpoint: 'token' }).length
    expect(await codeOf(refreshTokens({ ...base('svc', 'svc-secret'), record: second.record }))).toBe(
      'ERR_TEMPORARILY_UNAVAILABLE',
    )
    expect(idp.control.journal.entries({ endpoint: 'token' })).toHaveLength(before + 1)
    expect(await codeOf(refreshTokens({ ...base('svc', 'svc-secret'), record: first.record }))).toBe(
      'ERR_INVALID_GRANT',
    )
  })
})

describe('browserLogin', () => {
  /** A "browser": follows the authorization URL in-process, then lands on the real loopback server. */
  const browser = (idp: MockIdp) => async (url: string) => {
    const redirect = await idp.fetch(url, { redirect: 'manual' })
    const location = redirect.headers.get('location')
    if (!location) throw new Error(`no redirect from authorize: ${redirect.status}`)
    await (await fetch(location)).text()
    return true
  }

  it('runs code + PKCE through a loopback redirect on 127.0.0.1 and prints the URL', async () => {
    const { idp, base } = await setup()
    const urls: string[] = []
    const tokens = await browserLogin({
      ...base('cli'),
      scope: 'openid profile',
      openBrowser: browser(idp),
      onUrl: (u) => urls.push(u),
    })
    expect(urls[0]).toMatch(/code_challenge_method=S256/)
    expect(urls[0]).toMatch(/redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fcallback/)
    expect(tokens.record.idToken).toBeTruthy()
    expect(idp.control.journal.entries({ grantType: 'authorization_code' })).toHaveLength(1)
  })

  it('fails at once with the provider’s refusal instead of waiting for a redirect that never comes', async () => {
    const { idp, base } = await setup()
    let opened = false
    const unregistered = await browserLogin({
      ...base('cli'),
      loopback: { path: '/elsewhere', timeoutMs: 20_000 },
      openBrowser: async () => {
        opened = true
        return true
      },
      onUrl: () => {},
    }).catch((e: unknown) => e)
    expect((unregistered as { code?: string }).code).toBe('ERR_AUTHORIZATION_REFUSED')
    expect((unregistered as Error).message).toMatch(/was refused with 400: .*\/elsewhere/)
    expect(opened).toBe(false)
    // An error redirect to the loopback server is the provider's answer too.
    const redirecting = (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : input)
      if (!url.pathname.endsWith('/authorize')) return idp.fetch(input, init)
      const back = new URL(url.searchParams.get('redirect_uri') as string)
      back.searchParams.set('error', 'unauthorized_client')
      back.searchParams.set('state', url.searchParams.get('state') as string)
      return Promise.resolve(new Response(null, { status: 302, headers: { location: back.href } }))
    }
    const refused = await browserLogin({
      ...base('cli'),
      fetch: redirecting,
      openBrowser: async () => true,
      onUrl: () => {},
    }).catch((e: unknown) => e)
    expect((refused as { code?: string }).code).toBe('ERR_UNAUTHORIZED_CLIENT')
  })

  it('keeps working across a key rotation: refresh, then a new login signed with the new key', async () => {
    const { idp, base } = await setup()
    const kid = (jwt: string | undefined) =>
      JSON.parse(atob((jwt ?? '').split('.')[0]?.replace(/-/g, '+').replace(/_/g, '/') ?? '')).kid
    const first = await browserLogin({
      ...base('cli'),
      scope: 'openid offline_access',
      openBrowser: browser(idp),
      onUrl: () => {},
    })
    const rotated = await idp.control.keys.rotate({ graceMs: 0 })
    expect(kid(first.record.idToken)).not.toBe(rotated.kid)
    const refreshed = await refreshTokens({ ...base('cli'), record: first.record })
    expect(kid(refreshed.accessToken)).toBe(rotated.kid)
    const second = await browserLogin({
      ...base('cli'),
      scope: 'openid',
      openBrowser: browser(idp),
      onUrl: () => {},
    })
    expect(kid(second.record.idToken)).toBe(rotated.kid)
  })

  it('turns an error redirect into its code', async () => {
    const { idp, base } = await setup()
    const error = browserLogin({
      ...base('cli'),
      openBrowser: browser(idp),
      onUrl: () => {},
      authorizationParameters: { login_hint: 'nobody' },
    })
    expect(await codeOf(error)).toBe('ERR_ACCESS_DENIED')
  })

  it('times out when no redirect comes', async () => {
    const { base } = await setup()
    const error = browserLogin({
      ...base('cli'),
      openBrowser: async () => false,
      onUrl: () => {},
      loopback: { timeoutMs: 50 },
    })
    expect(await codeOf(error)).toBe('ERR_TIMEOUT')
  })
})

describe('basicAuthorization', () => {
  it('encodes UTF-8 credentials and refuses a colon in the user id', () => {
    expect(basicAuthorization('alice', 'pässword')).toBe(`Basic ${btoa('alice:p\u00c3\u00a4ssword')}`)
    expect(() => basicAuthorization('a:b', 'x')).toThrow(KeyfobError)
  })
})
