import { describe, expect, it } from 'vitest'
import {
  clientCredentialsFlow,
  codeFlow,
  codeTransition,
  type DeviceState,
  deviceFlow,
  deviceTransition,
  type Event,
  refreshFlow,
  requestTransition,
} from '../src/index.ts'

const AUTH = {
  device_code: 'dc',
  user_code: 'ABCD-EFGH',
  verification_uri: 'https://idp/device',
  verification_uri_complete: 'https://idp/device?user_code=ABCD-EFGH',
  expires_in: 600,
  interval: 5,
}
const polling: DeviceState = {
  phase: 'polling',
  deviceCode: 'dc',
  intervalS: 5,
  deadlineMs: 300_000,
  expiresAtMs: 600_000,
}

describe('device flow reducer', () => {
  const table: Array<[string, DeviceState, Event, unknown]> = [
    [
      'start asks for a device authorization',
      deviceFlow({ scope: 'openid' }),
      { type: 'start', nowMs: 0 },
      {
        state: { phase: 'authorizing', scope: 'openid', maxPollMs: 300_000, deadlineMs: 300_000 },
        effects: [{ type: 'device-authorization-request', scope: 'openid', deadlineMs: 300_000 }],
      },
    ],
    [
      'the authorization shows the code and sleeps one interval; the deadline is the shorter of maxPollMs and expires_in',
      { phase: 'authorizing', scope: 'openid', maxPollMs: 300_000, deadlineMs: 300_000 },
      { type: 'device-authorization', response: AUTH, nowMs: 0 },
      {
        state: polling,
        effects: [
          {
            type: 'display-device-code',
            userCode: 'ABCD-EFGH',
            verificationUri: 'https://idp/device',
            verificationUriComplete: 'https://idp/device?user_code=ABCD-EFGH',
            expiresAtMs: 600_000,
          },
          { type: 'sleep', untilMs: 5_000 },
        ],
      },
    ],
    [
      'PKCE (openEO device_code+pkce) and extra parameters go with the device authorization request',
      deviceFlow({
        scope: 'openid',
        pkce: { verifier: 'v'.repeat(43), challenge: 'c'.repeat(43) },
        parameters: { audience: 'api' },
      }),
      { type: 'start', nowMs: 0 },
      {
        state: expect.objectContaining({ phase: 'authorizing' }),
        effects: [
          {
            type: 'device-authorization-request',
            scope: 'openid',
            codeChallenge: 'c'.repeat(43),
            parameters: { audience: 'api' },
            deadlineMs: 300_000,
          },
        ],
      },
    ],
    [
      '... and the verifier with every poll',
      {
        phase: 'authorizing',
        scope: 'openid',
        maxPollMs: 300_000,
        deadlineMs: 300_000,
        pkce: { verifier: 'v'.repeat(43), challenge: 'c'.repeat(43) },
      },
      { type: 'device-authorization', response: AUTH, nowMs: 0 },
      {
        state: { ...polling, codeVerifier: 'v'.repeat(43) },
        effects: [
          expect.objectContaining({ type: 'display-device-code' }),
          { type: 'sleep', untilMs: 5_000 },
        ],
      },
    ],
    [
      'a PKCE poll carries the verifier',
      { ...polling, codeVerifier: 'v'.repeat(43) },
      { type: 'woke', nowMs: 5_000 },
      {
        state: { ...polling, codeVerifier: 'v'.repeat(43) },
        effects: [
          {
            type: 'token-request',
            request: { grant: 'device_code', deviceCode: 'dc', codeVerifier: 'v'.repeat(43) },
            deadlineMs: 300_000,
          },
        ],
      },
    ],
    [
      'no interval from the server means 5 s',
      { phase: 'authorizing', scope: '', maxPollMs: 300_000, deadlineMs: 300_000 },
      {
        type: 'device-authorization',
        response: { ...AUTH, interval: undefined as never, expires_in: 60 },
        nowMs: 0,
      },
      {
        state: { phase: 'polling', deviceCode: 'dc', intervalS: 5, deadlineMs: 60_000, expiresAtMs: 60_000 },
        effects: [
          expect.objectContaining({ type: 'display-device-code' }),
          { type: 'sleep', untilMs: 5_000 },
        ],
      },
    ],
    [
      'waking polls the token endpoint',
      polling,
      { type: 'woke', nowMs: 5_000 },
      {
        state: polling,
        effects: [
          { type: 'token-request', request: { grant: 'device_code', deviceCode: 'dc' }, deadlineMs: 300_000 },
        ],
      },
    ],
    [
      'authorization_pending sleeps one interval',
      polling,
      { type: 'token-error', error: 'authorization_pending', nowMs: 5_000 },
      {
        state: polling,
        effects: [{ type: 'sleep', untilMs: 10_000 }],
      },
    ],
    [
      'slow_down adds 5 s to the interval, for good',
      polling,
      { type: 'token-error', error: 'slow_down', nowMs: 5_000 },
      {
        state: { ...polling, intervalS: 10 },
        effects: [{ type: 'sleep', untilMs: 15_000 }],
      },
    ],
    [
      'a sleep never goes past the deadline',
      polling,
      { type: 'token-error', error: 'authorization_pending', nowMs: 298_000 },
      {
        state: polling,
        effects: [{ type: 'sleep', untilMs: 300_000 }],
      },
    ],
    [
      'waking at the deadline is a timeout',
      polling,
      { type: 'woke', nowMs: 300_000 },
      {
        state: { phase: 'failed', failure: expect.objectContaining({ code: 'ERR_TIMEOUT' }) },
        effects: [],
      },
    ],
    [
      'access_denied ends it',
      polling,
      { type: 'token-error', error: 'access_denied', status: 400, nowMs: 5_000 },
      {
        state: {
          phase: 'failed',
          failure: {
            code: 'ERR_ACCESS_DENIED',
            message: 'the device login failed with access_denied',
            evidence: { error: 'access_denied', status: 400 },
          },
        },
        effects: [],
      },
    ],
    [
      'expired_token ends it',
      polling,
      { type: 'token-error', error: 'expired_token', nowMs: 5_000 },
      {
        state: { phase: 'failed', failure: expect.objectContaining({ code: 'ERR_EXPIRED_TOKEN' }) },
        effects: [],
      },
    ],
    [
      'tokens end it with absolute expiry',
      polling,
      {
        type: 'token-response',
        response: { access_token: 'at', token_type: 'Bearer', expires_in: 60, refresh_token: 'rt' },
        nowMs: 7_000,
      },
      {
        state: {
          phase: 'done',
          tokens: {
            accessToken: 'at',
            tokenType: 'bearer',
            expiresAt: 67_000,
            refreshToken: 'rt',
            updatedAt: 7_000,
          },
        },
        effects: [],
      },
    ],
    [
      'cancel ends it',
      polling,
      { type: 'cancel', nowMs: 1 },
      {
        state: { phase: 'failed', failure: { code: 'ERR_ABORTED', message: 'the login was cancelled' } },
        effects: [],
      },
    ],
    [
      'a fault from the interpreter ends it',
      polling,
      { type: 'failed', failure: { code: 'ERR_NETWORK', message: 'down' }, nowMs: 1 },
      {
        state: { phase: 'failed', failure: { code: 'ERR_NETWORK', message: 'down' } },
        effects: [],
      },
    ],
    [
      'a terminal state ignores late events',
      { phase: 'done', tokens: { accessToken: 'a', updatedAt: 0 } },
      { type: 'woke', nowMs: 9 },
      {
        state: { phase: 'done', tokens: { accessToken: 'a', updatedAt: 0 } },
        effects: [],
      },
    ],
    [
      'an event out of order is reported, not ignored',
      deviceFlow({ scope: '' }),
      { type: 'woke', nowMs: 0 },
      {
        state: { phase: 'failed', failure: expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }) },
        effects: [],
      },
    ],
  ]
  for (const [name, state, event, expected] of table) {
    it(name, () => {
      expect(deviceTransition(state, event)).toEqual(expected)
    })
  }
})

describe('one-request grants', () => {
  it('refresh keeps the old refresh token when the server sends none', () => {
    const previous = {
      accessToken: 'old',
      refreshToken: 'rt-1',
      idToken: 'id',
      scope: 'openid',
      updatedAt: 0,
    }
    const started = requestTransition(refreshFlow(previous), { type: 'start', nowMs: 0 })
    expect(started.effects).toEqual([
      { type: 'token-request', request: { grant: 'refresh_token', refreshToken: 'rt-1' } },
    ])
    const done = requestTransition(started.state, {
      type: 'token-response',
      response: { access_token: 'new', token_type: 'bearer', expires_in: 10 },
      nowMs: 1_000,
    })
    expect(done.state).toEqual({
      phase: 'done',
      tokens: {
        accessToken: 'new',
        tokenType: 'bearer',
        expiresAt: 11_000,
        refreshToken: 'rt-1',
        idToken: 'id',
        scope: 'openid',
        updatedAt: 1_000,
      },
    })
  })

  it('refresh without a refresh token fails before any request', () => {
    expect(
      requestTransition(refreshFlow({ accessToken: 'a', updatedAt: 0 }), { type: 'start', nowMs: 0 }),
    ).toEqual({
      state: {
        phase: 'failed',
        failure: { code: 'ERR_NO_REFRESH_TOKEN', message: 'there is no refresh token to use; log in first' },
      },
      effects: [],
    })
  })

  it('an invalid_grant answer fails with its code and evidence', () => {
    const started = requestTransition(clientCredentialsFlow('read'), { type: 'start', nowMs: 0 })
    expect(started.effects).toEqual([
      { type: 'token-request', request: { grant: 'client_credentials', scope: 'read' } },
    ])
    const failed = requestTransition(started.state, {
      type: 'token-error',
      error: 'invalid_client',
      description: 'bad secret',
      status: 401,
      nowMs: 1,
    })
    expect(failed.state).toEqual({
      phase: 'failed',
      failure: {
        code: 'ERR_INVALID_CLIENT',
        message: 'the client_credentials grant failed with invalid_client (bad secret)',
        evidence: { error: 'invalid_client', errorDescription: 'bad secret', status: 401 },
      },
    })
  })
})

describe('authorization code reducer', () => {
  const initial = codeFlow({
    authorizationUrl: 'https://idp/authorize?x',
    redirectUri: 'http://127.0.0.1:1/cb',
    codeVerifier: 'v',
    state: 's',
    nonce: 'n',
  })
  const waiting = codeTransition(initial, { type: 'start', nowMs: 0 })

  it('opens the browser at the authorization URL', () => {
    expect(waiting.effects).toEqual([{ type: 'open-browser', url: 'https://idp/authorize?x' }])
  })

  const table: Array<[string, Record<string, string>, unknown]> = [
    [
      'a code is exchanged once, with verifier, state and nonce',
      { code: 'c', state: 's' },
      {
        state: { phase: 'exchanging' },
        effects: [
          {
            type: 'token-request',
            request: {
              grant: 'authorization_code',
              callback: { code: 'c', state: 's' },
              redirectUri: 'http://127.0.0.1:1/cb',
              codeVerifier: 'v',
              expectedState: 's',
              expectedNonce: 'n',
            },
          },
        ],
      },
    ],
    [
      'a wrong state ends it',
      { code: 'c', state: 'x' },
      {
        state: { phase: 'failed', failure: expect.objectContaining({ code: 'ERR_STATE_MISMATCH' }) },
        effects: [],
      },
    ],
    [
      'an error redirect ends it with the mapped code',
      { error: 'access_denied', state: 's' },
      {
        state: { phase: 'failed', failure: expect.objectContaining({ code: 'ERR_ACCESS_DENIED' }) },
        effects: [],
      },
    ],
    [
      'neither code nor error is an invalid response',
      { state: 's' },
      {
        state: { phase: 'failed', failure: expect.objectContaining({ code: 'ERR_INVALID_RESPONSE' }) },
        effects: [],
      },
    ],
  ]
  for (const [name, params, expected] of table) {
    it(name, () => {
      expect(codeTransition(waiting.state, { type: 'callback', params, nowMs: 1 })).toEqual(expected)
    })
  }
})
