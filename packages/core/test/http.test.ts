/** The interpreter end to end against @keyfob/mock-idp, in-process; sleeps move the IdP's clock. */
import { createMockIdp, type MockIdp } from '@keyfob/mock-idp'
import { describe, expect, it } from 'vitest'
import {
  type ClientEntry,
  checkToken,
  clientCredentialsFlow,
  codeFlow,
  codeTransition,
  deviceFlow,
  deviceTransition,
  discover,
  type Effect,
  type Event,
  type HttpContext,
  KeyfobError,
  passwordFlow,
  prepareAuthorization,
  refreshFlow,
  requestTransition,
  revokeToken,
  runHttpEffect,
  type Step,
} from '../src/index.ts'

async function setup() {
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
  const as = await discover(idp.issuer, { fetch: idp.fetch })
  const ctx = (client: ClientEntry): HttpContext => ({
    as,
    client,
    fetch: idp.fetch,
    now: () => idp.control.clock.now(),
  })
  return { idp, as, ctx }
}

/** A minimal driver: HTTP through the interpreter, sleeps on the mock clock, the rest by callback. */
async function drive<S>(
  idp: MockIdp,
  transition: (s: S, e: Event) => Step<S>,
  initial: S,
  ctx: HttpContext,
  onEffect: (effect: Effect) => Event | undefined = () => undefined,
): Promise<S> {
  let step = transition(initial, { type: 'start', nowMs: idp.control.clock.now() })
  for (let guard = 0; guard < 200 && step.effects.length > 0; guard++) {
    const events: Event[] = []
    for (const effect of step.effects) {
      if (effect.type === 'sleep') {
        idp.control.clock.set(Math.max(idp.control.clock.now(), effect.untilMs))
        events.push({ type: 'woke', nowMs: idp.control.clock.now() })
      } else if (effect.type === 'token-request' || effect.type === 'device-authorization-request') {
        events.push(await runHttpEffect(effect, ctx))
      } else {
        const event = onEffect(effect)
        if (event) events.push(event)
      }
    }
    for (const event of events) step = transition(step.state, event)
  }
  return step.state
}

describe('discover', () => {
  it('reads and checks the metadata', async () => {
    const { as, idp } = await setup()
    expect(as.issuer).toBe(idp.issuer)
    expect(as.device_authorization_endpoint).toBe(`${idp.issuer}/device_authorization`)
  })

  it('retries a 5xx and a dropped connection, then succeeds', async () => {
    const { idp } = await setup()
    idp.control.faults.inject({ endpoint: 'discovery', status: 503, times: 1 })
    idp.control.faults.inject({ endpoint: 'discovery', drop: true, times: 1 })
    await discover(idp.issuer, { fetch: idp.fetch })
    expect(idp.control.journal.entries({ endpoint: 'discovery' }).length).toBeGreaterThanOrEqual(3)
  })

  const faults: Array<[string, Parameters<MockIdp['control']['faults']['inject']>[0], string]> = [
    [
      'an HTML error page',
      { endpoint: 'discovery', status: 404, body: '<html>Not Found</html>', times: 5 },
      'ERR_DISCOVERY',
    ],
    ['malformed JSON', { endpoint: 'discovery', malformedJson: true, times: 5 }, 'ERR_DISCOVERY'],
    ['a provider that stays down', { endpoint: 'discovery', status: 503, times: 5 }, 'ERR_DISCOVERY'],
    ['a network that stays down', { endpoint: 'discovery', drop: true, times: 5 }, 'ERR_NETWORK'],
  ]
  for (const [name, rule, code] of faults) {
    it(`gives ${code} for ${name}`, async () => {
      const { idp } = await setup()
      idp.control.faults.inject(rule)
      const error = await discover(idp.issuer, { fetch: idp.fetch }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(KeyfobError)
      expect((error as KeyfobError).code).toBe(code)
    })
  }

  it('refuses a document whose issuer differs', async () => {
    const { idp } = await setup()
    const lying = (input: string | URL | Request, init?: RequestInit) =>
      idp.fetch(String(input).replace('https://other.test', idp.issuer), init)
    const error = await discover('https://other.test', { fetch: lying }).catch((e: unknown) => e)
    expect((error as KeyfobError).code).toBe('ERR_ISSUER_MISMATCH')
  })

  it('refuses plain http outside loopback', async () => {
    const error = await discover('http://idp.example', { fetch: async () => new Response('{}') }).catch(
      (e: unknown) => e,
    )
    expect((error as KeyfobError).code).toBe('ERR_INSECURE_REDIRECT')
  })
})

describe('grants end to end', () => {
  it('device flow: shows the code, is slowed down, polls until approved', async () => {
    const { idp, ctx } = await setup()
    let shown: Extract<Effect, { type: 'display-device-code' }> | undefined
    const polls = 0
    const final = await drive(
      idp,
      deviceTransition,
      deviceFlow({ scope: 'openid offline_access' }),
      ctx({ clientId: 'cli' }),
      (effect) => {
        if (effect.type === 'display-device-code') shown = effect
        return undefined
      },
    )
    void polls
    // Not approved: the flow runs into its deadline on the mock clock.
    expect(final).toEqual({ phase: 'failed', failure: expect.objectContaining({ code: 'ERR_TIMEOUT' }) })
    expect(shown?.verificationUriComplete).toContain(shown?.userCode ?? 'x')

    const approving = await drive(
      idp,
      deviceTransition,
      deviceFlow({ scope: 'openid offline_access' }),
      ctx({ clientId: 'cli' }),
      (effect) => {
        if (effect.type === 'display-device-code') idp.control.devices.approve(effect.userCode)
        return undefined
      },
    )
    expect(approving.phase).toBe('done')
    const tokens = (approving as { tokens: { refreshToken?: string; expiresAt?: number } }).tokens
    expect(tokens.refreshToken).toBeTruthy()
    expect(tokens.expiresAt).toBe(idp.control.clock.now() + 3_600_000)
  })

  it('device flow: access_denied and expired_token', async () => {
    const { idp, ctx } = await setup()
    const denied = await drive(
      idp,
      deviceTransition,
      deviceFlow({ scope: 'openid' }),
      ctx({ clientId: 'cli' }),
      (effect) => {
        if (effect.type === 'display-device-code') idp.control.devices.deny(effect.userCode)
        return undefined
      },
    )
    expect(denied).toMatchObject({ phase: 'failed', failure: { code: 'ERR_ACCESS_DENIED' } })
    const expired = await drive(
      idp,
      deviceTransition,
      deviceFlow({ scope: 'openid', maxPollMs: 10_000_000 }),
      ctx({ clientId: 'cli' }),
      (effect) => {
        if (effect.type === 'display-device-code') idp.control.devices.expire(effect.userCode)
        return undefined
      },
    )
    expect(expired).toMatchObject({ phase: 'failed', failure: { code: 'ERR_EXPIRED_TOKEN' } })
  })

  it('client credentials, password and refresh with rotation', async () => {
    const { idp, ctx } = await setup()
    const svc = ctx({ clientId: 'svc', clientSecret: 'svc-secret' })
    const cc = await drive(idp, requestTransition, clientCredentialsFlow('profile'), svc)
    expect(cc).toMatchObject({ phase: 'done', tokens: { scope: 'profile', tokenType: 'bearer' } })
    const pw = await drive(idp, requestTransition, passwordFlow('alice', 'alice', 'openid'), svc)
    expect(pw.phase).toBe('done')
    const first = (pw as { tokens: { refreshToken: string } }).tokens
    const refreshed = await drive(idp, requestTransition, refreshFlow(first as never), svc)
    expect(refreshed.phase).toBe('done')
    const second = (refreshed as { tokens: { refreshToken: string } }).tokens
    expect(second.refreshToken).not.toBe(first.refreshToken)
    const reuse = await drive(idp, requestTransition, refreshFlow(first as never), svc)
    expect(reuse).toMatchObject({ phase: 'failed', failure: { code: 'ERR_INVALID_GRANT' } })
  })

  it('authorization code + PKCE with nonce, through a simulated browser', async () => {
    const { idp, as, ctx } = await setup()
    const start = await prepareAuthorization(as, {
      clientId: 'cli',
      redirectUri: 'http://127.0.0.1:40001/callback',
      scope: 'openid profile',
    })
    const final = await drive(idp, codeTransition, codeFlow(start), ctx({ clientId: 'cli' }), (effect) => {
      if (effect.type !== 'open-browser') return undefined
      // The "browser": follow the authorization URL to the redirect, synchronously faked by a
      // queued event below; the mock IdP answers with a 302 we read in the test.
      pending = idp
        .fetch(effect.url)
        .then((r) => Object.fromEntries(new URL(r.headers.get('location') ?? '').searchParams))
      return undefined
    })
    expect(final.phase).toBe('waiting')
    const params = await pending
    let step = codeTransition(final, { type: 'callback', params, nowMs: idp.control.clock.now() })
    step = codeTransition(
      step.state,
      await runHttpEffect(step.effects[0] as Effect, ctx({ clientId: 'cli' })),
    )
    expect(step.state).toMatchObject({ phase: 'done', tokens: { tokenType: 'bearer' } })
  })
})

let pending: Promise<Record<string, string>> = Promise.resolve({})

describe('faults become typed events', () => {
  const cases: Array<[string, Parameters<MockIdp['control']['faults']['inject']>[0], Partial<Event>]> = [
    [
      'a 503 with an OAuth error',
      { endpoint: 'token', status: 503, error: 'temporarily_unavailable' },
      {
        type: 'failed',
        failure: expect.objectContaining({
          code: 'ERR_TEMPORARILY_UNAVAILABLE',
          evidence: {
            status: 503,
            contentType: 'application/json',
            error: 'temporarily_unavailable',
            errorDescription: 'injected by the mock IdP fault rules',
          },
        }),
      } as never,
    ],
    [
      'a 400 with an OAuth error',
      { endpoint: 'token', status: 400, error: 'invalid_scope' },
      { type: 'token-error', error: 'invalid_scope', status: 400 } as never,
    ],
    [
      'malformed JSON',
      { endpoint: 'token', malformedJson: true },
      { type: 'failed', failure: expect.objectContaining({ code: 'ERR_INVALID_RESPONSE' }) } as never,
    ],
    [
      'an HTML error page',
      { endpoint: 'token', status: 502, body: '<h1>Bad Gateway</h1>' },
      {
        type: 'failed',
        failure: expect.objectContaining({
          code: 'ERR_SERVER_ERROR',
          evidence: { status: 502, contentType: 'text/html; charset=utf-8', body: 'Bad Gateway' },
        }),
      } as never,
    ],
    [
      'an HTML page with status 200',
      { endpoint: 'token', status: 200, body: '<h1>Login</h1>' },
      { type: 'failed', failure: expect.objectContaining({ code: 'ERR_INVALID_RESPONSE' }) } as never,
    ],
    [
      'a dropped connection',
      { endpoint: 'token', drop: true },
      { type: 'failed', failure: expect.objectContaining({ code: 'ERR_NETWORK' }) } as never,
    ],
  ]
  for (const [name, rule, expected] of cases) {
    it(name, async () => {
      const { idp, ctx } = await setup()
      idp.control.faults.inject(rule)
      const event = await runHttpEffect(
        { type: 'token-request', request: { grant: 'client_credentials' } },
        ctx({ clientId: 'svc', clientSecret: 'svc-secret' }),
      )
      expect(event).toMatchObject(expected)
      expect(JSON.stringify(event)).not.toContain('svc-secret')
    })
  }

  it('a wrong secret is invalid_client with status 401', async () => {
    const { ctx } = await setup()
    const event = await runHttpEffect(
      { type: 'token-request', request: { grant: 'client_credentials' } },
      ctx({ clientId: 'svc', clientSecret: 'nope' }),
    )
    expect(event).toMatchObject({ type: 'token-error', error: 'invalid_client', status: 401 })
  })

  it('a timeout is ERR_TIMEOUT', async () => {
    const { idp, ctx } = await setup()
    idp.control.faults.inject({ endpoint: 'token', delayMs: 200 })
    const event = await runHttpEffect(
      { type: 'token-request', request: { grant: 'client_credentials' } },
      { ...ctx({ clientId: 'svc', clientSecret: 'svc-secret' }), timeoutMs: 20 },
    )
    expect(event).toMatchObject({ type: 'failed', failure: { code: 'ERR_TIMEOUT' } })
  })
})

describe('checkToken', () => {
  it('asks userinfo: active while the provider accepts the token, not after revocation', async () => {
    const { idp, as, ctx } = await setup()
    const client = { clientId: 'svc', clientSecret: 'svc-secret' }
    const event = await runHttpEffect(
      {
        type: 'token-request',
        request: { grant: 'password', username: 'alice', password: 'alice', scope: 'openid' },
      },
      ctx(client),
    )
    if (event.type !== 'token-response') throw new Error(`no token: ${JSON.stringify(event)}`)
    const token = event.response.access_token
    expect(await checkToken(ctx(client), token)).toEqual({ active: true, via: 'userinfo', subject: 'alice' })
    await revokeToken(ctx(client), token, 'access_token')
    expect(await checkToken(ctx(client), token)).toEqual({ active: false, via: 'userinfo' })
    // Without a userinfo endpoint, a confidential client introspects.
    const { userinfo_endpoint: _, ...noUserinfo } = as
    expect(await checkToken({ ...ctx(client), as: noUserinfo }, token)).toEqual({
      active: false,
      via: 'introspection',
    })
    const error = await checkToken({ ...ctx({ clientId: 'cli' }), as: noUserinfo }, token).catch(
      (e: unknown) => e,
    )
    expect((error as KeyfobError).code).toBe('ERR_UNSUPPORTED')
    idp.control.faults.inject({ endpoint: 'userinfo', status: 503 })
    const down = await checkToken(ctx(client), token).catch((e: unknown) => e)
    expect((down as KeyfobError).code).toBe('ERR_TEMPORARILY_UNAVAILABLE')
    expect(JSON.stringify(down)).not.toContain(token)
  })
})
