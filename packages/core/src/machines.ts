/**
 * The flow machines: one reducer per grant, `transition(state, event) → { state, effects }`.
 * Events and effects are plain tagged data, time comes in on every event (`nowMs`), and nothing
 * here does I/O: {@link runHttpEffect} (core) and the drivers in `@keyfob/flows` execute effects.
 *
 * @module
 */

import type { DPoPKeyRecord, TokenRecord } from './contracts.ts'
import { type KeyfobErrorCode, oauthErrorCode } from './errors.ts'
import { type TokenResponse, TokenSet } from './tokens.ts'

/** A failure as data: the code, a message, the evidence. */
export interface Failure {
  readonly code: KeyfobErrorCode
  readonly message: string
  readonly evidence?: Readonly<Record<string, unknown>>
}

/** The device authorization response fields a device flow uses (RFC 8628 §3.2). */
export interface DeviceAuthorization {
  readonly device_code: string
  readonly user_code: string
  readonly verification_uri: string
  readonly verification_uri_complete?: string
  readonly expires_in: number
  readonly interval?: number
}

/**
 * Requests the machines ask the interpreter to send. `resource` is sent as RFC 8707 resource
 * indicators (one `resource` parameter each).
 */
export type TokenRequest = (
  | { readonly grant: 'device_code'; readonly deviceCode: string; readonly codeVerifier?: string }
  | { readonly grant: 'refresh_token'; readonly refreshToken: string; readonly scope?: string }
  | { readonly grant: 'client_credentials'; readonly scope?: string }
  | {
      readonly grant: 'password'
      readonly username: string
      readonly password: string
      readonly scope?: string
    }
  | {
      readonly grant: 'authorization_code'
      readonly callback: Readonly<Record<string, string>>
      readonly redirectUri: string
      readonly codeVerifier: string
      readonly expectedState: string
      readonly expectedNonce: string
    }
) & { readonly resource?: readonly string[] }

/** What a machine asks its driver to do. */
export type Effect =
  | {
      readonly type: 'device-authorization-request'
      readonly scope: string
      /** The PKCE S256 challenge (openEO's `device_code+pkce` clients). */
      readonly codeChallenge?: string
      /** Extra request parameters (openEO's `authorization_parameters`). */
      readonly parameters?: Readonly<Record<string, string>>
      /** RFC 8707 resource indicators. */
      readonly resource?: readonly string[]
      /** The flow's deadline (epoch ms): the request must not outlast it. */
      readonly deadlineMs?: number
    }
  | {
      /** RFC 9126: push the authorization request; answered by a `pushed-authorization` event. */
      readonly type: 'pushed-authorization-request'
      /** The full authorization URL whose parameters are pushed. */
      readonly url: string
    }
  | {
      readonly type: 'token-request'
      readonly request: TokenRequest
      /** The flow's deadline (epoch ms): the request must not outlast it. */
      readonly deadlineMs?: number
    }
  | { readonly type: 'sleep'; readonly untilMs: number }
  | {
      readonly type: 'display-device-code'
      readonly userCode: string
      readonly verificationUri: string
      readonly verificationUriComplete?: string
      readonly expiresAtMs: number
    }
  | { readonly type: 'open-browser'; readonly url: string }

/** What happened: answers to effects, the clock, the user. Every event carries the time. */
export type Event =
  | { readonly type: 'start'; readonly nowMs: number }
  | { readonly type: 'device-authorization'; readonly response: DeviceAuthorization; readonly nowMs: number }
  | { readonly type: 'woke'; readonly nowMs: number }
  | { readonly type: 'token-response'; readonly response: TokenResponse; readonly nowMs: number }
  | {
      readonly type: 'token-error'
      readonly error: string
      readonly description?: string
      readonly status?: number
      readonly nowMs: number
    }
  | { readonly type: 'callback'; readonly params: Readonly<Record<string, string>>; readonly nowMs: number }
  | {
      /** The pushed request's short authorization URL (`client_id` and `request_uri`, RFC 9126 §4). */
      readonly type: 'pushed-authorization'
      readonly authorizationUrl: string
      readonly nowMs: number
    }
  | { readonly type: 'failed'; readonly failure: Failure; readonly nowMs: number }
  | { readonly type: 'cancel'; readonly nowMs: number }

/** Where every machine ends: tokens, or a failure. */
export type Terminal =
  | { readonly phase: 'done'; readonly tokens: TokenRecord }
  | { readonly phase: 'failed'; readonly failure: Failure }

/** A machine's answer to one event. */
export interface Step<S> {
  readonly state: S
  readonly effects: readonly Effect[]
}

/** A new login's record, with its DPoP key when it has one. */
function withKey(tokens: TokenSet, dpopKey: DPoPKeyRecord | undefined): TokenRecord {
  return dpopKey === undefined ? tokens.toRecord() : { ...tokens.toRecord(), dpopKey }
}

const failedWith = (failure: Failure): Step<Terminal> => ({
  state: { phase: 'failed', failure },
  effects: [],
})

function tokenFailure(e: Extract<Event, { type: 'token-error' }>, what: string): Failure {
  return {
    code: oauthErrorCode(e.error),
    message: `${what} failed with ${e.error}${e.description ? ` (${e.description})` : ''}`,
    evidence: {
      error: e.error,
      ...(e.description !== undefined ? { errorDescription: e.description } : {}),
      ...(e.status !== undefined ? { status: e.status } : {}),
    },
  }
}

function unexpected<S>(state: S, e: Event): Step<S | Terminal> {
  // Terminal states ignore everything; anything else out of order is a driver bug, reported as data.
  if ((state as { phase?: string }).phase === 'done' || (state as { phase?: string }).phase === 'failed')
    return { state, effects: [] }
  return failedWith({
    code: 'ERR_INVALID_ARGUMENT',
    message: `event ${e.type} does not fit state ${(state as { phase?: string }).phase}`,
  })
}

function common<S>(state: S, e: Event): Step<S | Terminal> | undefined {
  if (e.type === 'cancel') return failedWith({ code: 'ERR_ABORTED', message: 'the login was cancelled' })
  if (e.type === 'failed') return failedWith(e.failure)
  return (state as { phase?: string }).phase === 'done' || (state as { phase?: string }).phase === 'failed'
    ? { state, effects: [] }
    : undefined
}

// ---- device authorization (RFC 8628) ---------------------------------------------------------

/** The state of a device flow. */
export type DeviceState =
  | ({ readonly phase: 'idle' } & DeviceFlowOptions & { readonly maxPollMs: number })
  | ({ readonly phase: 'authorizing' } & DeviceFlowOptions & {
        readonly maxPollMs: number
        /** When the whole flow gives up: the start plus `maxPollMs`. */
        readonly deadlineMs: number
      })
  | {
      readonly phase: 'polling'
      readonly deviceCode: string
      readonly intervalS: number
      readonly deadlineMs: number
      readonly expiresAtMs: number
      readonly codeVerifier?: string
      readonly resource?: readonly string[]
      readonly dpopKey?: DPoPKeyRecord
    }
  | Terminal

/** What a device flow asks for. */
export interface DeviceFlowOptions {
  /** The scope to ask for. */
  readonly scope: string
  /**
   * Give up this long after the start (default 300 000 ms), every request included: no request
   * outlasts the deadline. The server's `expires_in` may end the flow sooner.
   */
  readonly maxPollMs?: number
  /**
   * PKCE for the device grant, as openEO's `device_code+pkce` clients use it: the challenge goes
   * with the device authorization request, the verifier with every poll. Randomness is an input:
   * the driver makes the pair.
   */
  readonly pkce?: { readonly verifier: string; readonly challenge: string }
  /** Extra device authorization request parameters (openEO's `authorization_parameters`). */
  readonly parameters?: Readonly<Record<string, string>>
  /**
   * RFC 8707 resource indicators: all go with the device authorization request, the first with
   * the token requests (the access token is for it).
   */
  readonly resource?: readonly string[]
  /**
   * The login's DPoP key (stored form), when its tokens are DPoP-bound: it ends up in the
   * resulting record. The interpreter signs the proofs (`HttpContext.dpop`).
   */
  readonly dpopKey?: DPoPKeyRecord
}

/**
 * A device flow that has not started: `scope` to ask for, `maxPollMs` to give up after (default
 * 300 000, openEO's `max_poll_time`; the server's `expires_in` shortens it), optional PKCE and
 * extra request parameters.
 *
 * @param options - Scope, poll limit, PKCE pair, extra parameters.
 * @returns The initial state.
 * @example
 * ```ts
 * let state: DeviceState = deviceFlow({ scope: 'openid offline_access' })
 * ```
 */
export function deviceFlow(options: DeviceFlowOptions): DeviceState {
  return { ...options, phase: 'idle', maxPollMs: options.maxPollMs ?? 300_000 }
}

/**
 * The device flow reducer: authorize, show the code, poll at the interval, `slow_down` adds 5 s
 * (for this and every later poll), `authorization_pending` waits, `access_denied` and
 * `expired_token` end it, and so does the poll deadline.
 *
 * @param state - The current state.
 * @param event - What happened.
 * @returns The next state and the effects to run.
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.5
 * @example
 * ```ts
 * const { state, effects } = deviceTransition(deviceFlow({ scope: 'openid' }), { type: 'start', nowMs: 0 })
 * // effects: [{ type: 'device-authorization-request', scope: 'openid' }]
 * ```
 */
export function deviceTransition(state: DeviceState, event: Event): Step<DeviceState> {
  const shared = common(state, event)
  if (shared) return shared
  const now = event.nowMs
  switch (state.phase) {
    case 'idle':
      if (event.type !== 'start') return unexpected(state, event)
      return {
        state: { ...state, phase: 'authorizing', deadlineMs: now + state.maxPollMs },
        effects: [
          {
            type: 'device-authorization-request',
            scope: state.scope,
            deadlineMs: now + state.maxPollMs,
            ...(state.pkce ? { codeChallenge: state.pkce.challenge } : {}),
            ...(state.parameters ? { parameters: state.parameters } : {}),
            ...(state.resource?.length ? { resource: state.resource } : {}),
          },
        ],
      }
    case 'authorizing': {
      if (event.type === 'token-error')
        return failedWith(tokenFailure(event, 'the device authorization request'))
      if (event.type !== 'device-authorization') return unexpected(state, event)
      const r = event.response
      const intervalS = r.interval !== undefined && r.interval > 0 ? r.interval : 5
      const expiresAtMs = now + r.expires_in * 1000
      const deadlineMs = Math.min(expiresAtMs, state.deadlineMs)
      return {
        state: {
          phase: 'polling',
          deviceCode: r.device_code,
          intervalS,
          deadlineMs,
          expiresAtMs,
          ...(state.pkce ? { codeVerifier: state.pkce.verifier } : {}),
          ...(state.resource?.length ? { resource: state.resource.slice(0, 1) } : {}),
          ...(state.dpopKey ? { dpopKey: state.dpopKey } : {}),
        },
        effects: [
          {
            type: 'display-device-code',
            userCode: r.user_code,
            verificationUri: r.verification_uri,
            ...(r.verification_uri_complete !== undefined
              ? { verificationUriComplete: r.verification_uri_complete }
              : {}),
            expiresAtMs,
          },
          { type: 'sleep', untilMs: Math.min(now + intervalS * 1000, deadlineMs) },
        ],
      }
    }
    case 'polling': {
      const timeout = (): Step<DeviceState> =>
        failedWith({
          code: 'ERR_TIMEOUT',
          message: 'the device code was not approved in time; start the login again',
          evidence: { deadlineMs: state.deadlineMs },
        })
      const sleep = (s: typeof state): Step<DeviceState> =>
        now >= s.deadlineMs
          ? timeout()
          : {
              state: s,
              effects: [{ type: 'sleep', untilMs: Math.min(now + s.intervalS * 1000, s.deadlineMs) }],
            }
      switch (event.type) {
        case 'woke':
          if (now >= state.deadlineMs) return timeout()
          return {
            state,
            effects: [
              {
                type: 'token-request',
                request: {
                  grant: 'device_code',
                  deviceCode: state.deviceCode,
                  ...(state.codeVerifier !== undefined ? { codeVerifier: state.codeVerifier } : {}),
                  ...(state.resource ? { resource: state.resource } : {}),
                },
                deadlineMs: state.deadlineMs,
              },
            ],
          }
        case 'token-response':
          return {
            state: {
              phase: 'done',
              tokens: withKey(TokenSet.fromResponse(event.response, now), state.dpopKey),
            },
            effects: [],
          }
        case 'token-error':
          if (event.error === 'authorization_pending') return sleep(state)
          if (event.error === 'slow_down') return sleep({ ...state, intervalS: state.intervalS + 5 })
          return failedWith(tokenFailure(event, 'the device login'))
        default:
          return unexpected(state, event)
      }
    }
    default:
      return unexpected(state, event)
  }
}

// ---- single-request grants: refresh, client credentials, password ------------------------------

/** The state of a grant that is one token request. */
export type RequestState =
  | { readonly phase: 'idle'; readonly request: TokenRequest; readonly previous?: TokenRecord }
  | { readonly phase: 'requesting'; readonly request: TokenRequest; readonly previous?: TokenRecord }
  | Terminal

/**
 * A refresh (RFC 6749 §6): a new token set that keeps the old refresh token when the server sends
 * none, and the record's DPoP key (the same key signs the refresh, RFC 9449 §5).
 *
 * @param previous - The stored record; its refresh token is used.
 * @param scope - A narrower scope, if wanted.
 * @param resource - RFC 8707 resource indicators: the API the new access token is for.
 * @returns The initial state.
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.2
 * @example
 * ```ts
 * const initial = refreshFlow(stored, undefined, ['https://api.example/'])
 * ```
 */
export function refreshFlow(
  previous: TokenRecord,
  scope?: string,
  resource?: readonly string[],
): RequestState {
  return {
    phase: 'idle',
    request: {
      grant: 'refresh_token',
      refreshToken: previous.refreshToken ?? '',
      ...(scope !== undefined ? { scope } : {}),
      ...(resource?.length ? { resource } : {}),
    },
    previous,
  }
}

/**
 * A client-credentials grant (RFC 6749 §4.4).
 *
 * @param scope - The scope to ask for.
 * @param resource - RFC 8707 resource indicators.
 * @returns The initial state.
 * @example
 * ```ts
 * const initial = clientCredentialsFlow('read')
 * ```
 */
export function clientCredentialsFlow(scope?: string, resource?: readonly string[]): RequestState {
  return {
    phase: 'idle',
    request: {
      grant: 'client_credentials',
      ...(scope ? { scope } : {}),
      ...(resource?.length ? { resource } : {}),
    },
  }
}

/**
 * A resource-owner password grant (RFC 6749 §4.3): for legacy systems only.
 *
 * @param username - The user's name.
 * @param password - The user's password; it lives in the state only until the request is sent.
 * @param scope - The scope to ask for.
 * @param resource - RFC 8707 resource indicators.
 * @returns The initial state.
 * @example
 * ```ts
 * const initial = passwordFlow('alice', secret, 'openid')
 * ```
 */
export function passwordFlow(
  username: string,
  password: string,
  scope?: string,
  resource?: readonly string[],
): RequestState {
  return {
    phase: 'idle',
    request: {
      grant: 'password',
      username,
      password,
      ...(scope ? { scope } : {}),
      ...(resource?.length ? { resource } : {}),
    },
  }
}

/**
 * The reducer of the one-request grants: send the request, end with tokens or a failure. No
 * retry here: a driver may retry client credentials and password on a network error, never a
 * refresh (a rotated refresh token sent twice revokes the whole grant).
 *
 * @param state - The current state.
 * @param event - What happened.
 * @returns The next state and effects.
 * @example
 * ```ts
 * requestTransition(clientCredentialsFlow(), { type: 'start', nowMs: 0 })
 * ```
 */
export function requestTransition(state: RequestState, event: Event): Step<RequestState> {
  const shared = common(state, event)
  if (shared) return shared
  switch (state.phase) {
    case 'idle':
      if (event.type !== 'start') return unexpected(state, event)
      if (state.request.grant === 'refresh_token' && state.request.refreshToken === '') {
        return failedWith({
          code: 'ERR_NO_REFRESH_TOKEN',
          message: 'there is no refresh token to use; log in first',
        })
      }
      return {
        state: { ...state, phase: 'requesting' },
        effects: [{ type: 'token-request', request: state.request }],
      }
    case 'requesting':
      if (event.type === 'token-response') {
        return {
          state: {
            phase: 'done',
            tokens: TokenSet.fromResponse(event.response, event.nowMs, state.previous).toRecord(),
          },
          effects: [],
        }
      }
      if (event.type === 'token-error')
        return failedWith(tokenFailure(event, `the ${state.request.grant} grant`))
      return unexpected(state, event)
    default:
      return unexpected(state, event)
  }
}

// ---- authorization code + PKCE ---------------------------------------------------------------

/** The state of an authorization code flow. */
export type CodeState =
  | ({ readonly phase: 'idle' | 'pushing' | 'waiting' } & CodeFlowInput)
  | { readonly phase: 'exchanging'; readonly dpopKey?: DPoPKeyRecord }
  | Terminal

/** What an authorization code flow starts from: see {@link codeFlow}. */
export interface CodeFlowInput {
  /** The authorization URL (from `prepareAuthorization`). */
  readonly authorizationUrl: string
  /** The redirect URI in it. */
  readonly redirectUri: string
  /** The PKCE verifier of its challenge. */
  readonly codeVerifier: string
  /** Its `state`. */
  readonly state: string
  /** Its `nonce`. */
  readonly nonce: string
  /** Push the request first (RFC 9126 PAR) and open the short URL the provider answers with. */
  readonly push?: boolean
  /** RFC 8707 resource indicators of the request: the first one goes with the code exchange. */
  readonly resource?: readonly string[]
  /** The login's DPoP key (stored form): it ends up in the resulting record. */
  readonly dpopKey?: DPoPKeyRecord
}

/**
 * An authorization code flow with PKCE (S256), `state` and `nonce`. The random values and the
 * authorization URL come in from the caller (see `prepareAuthorization` in the interpreter), so
 * the reducer stays pure. With `push`, the request is pushed first (RFC 9126) and the browser
 * opens the provider's short URL.
 *
 * @param input - The authorization URL, redirect URI, PKCE verifier, state, nonce; PAR, resource indicators, DPoP key.
 * @returns The initial state.
 * @example
 * ```ts
 * const initial = codeFlow({ authorizationUrl, redirectUri, codeVerifier, state, nonce })
 * ```
 */
export function codeFlow(input: CodeFlowInput): CodeState {
  return { phase: 'idle', ...input }
}

/**
 * The authorization code reducer: open the browser, take the redirect, exchange the code once.
 * An error redirect or a wrong `state` ends it; a code is never sent twice.
 *
 * @param state - The current state.
 * @param event - What happened.
 * @returns The next state and effects.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1 and RFC 7636
 * @example
 * ```ts
 * codeTransition(initial, { type: 'start', nowMs: 0 }) // effects: open-browser
 * ```
 */
export function codeTransition(state: CodeState, event: Event): Step<CodeState> {
  const shared = common(state, event)
  if (shared) return shared
  switch (state.phase) {
    case 'idle':
      if (event.type !== 'start') return unexpected(state, event)
      if (state.push)
        return {
          state: { ...state, phase: 'pushing' },
          effects: [{ type: 'pushed-authorization-request', url: state.authorizationUrl }],
        }
      return {
        state: { ...state, phase: 'waiting' },
        effects: [{ type: 'open-browser', url: state.authorizationUrl }],
      }
    case 'pushing':
      if (event.type === 'token-error')
        return failedWith(tokenFailure(event, 'the pushed authorization request'))
      if (event.type !== 'pushed-authorization') return unexpected(state, event)
      return {
        state: { ...state, phase: 'waiting' },
        effects: [{ type: 'open-browser', url: event.authorizationUrl }],
      }
    case 'waiting': {
      if (event.type !== 'callback') return unexpected(state, event)
      const params = event.params
      if (params.state !== state.state) {
        return failedWith({
          code: 'ERR_STATE_MISMATCH',
          message: 'the redirect carried a different state than the request; start the login again',
        })
      }
      if (params.error !== undefined) {
        return failedWith({
          code: oauthErrorCode(params.error),
          message: `the authorization failed with ${params.error}${params.error_description ? ` (${params.error_description})` : ''}`,
          evidence: {
            error: params.error,
            ...(params.error_description !== undefined ? { errorDescription: params.error_description } : {}),
          },
        })
      }
      if (params.code === undefined)
        return failedWith({
          code: 'ERR_INVALID_RESPONSE',
          message: 'the redirect carried neither a code nor an error',
        })
      return {
        state: { phase: 'exchanging', ...(state.dpopKey ? { dpopKey: state.dpopKey } : {}) },
        effects: [
          {
            type: 'token-request',
            request: {
              grant: 'authorization_code',
              callback: params,
              redirectUri: state.redirectUri,
              codeVerifier: state.codeVerifier,
              expectedState: state.state,
              expectedNonce: state.nonce,
              ...(state.resource?.length ? { resource: state.resource.slice(0, 1) } : {}),
            },
          },
        ],
      }
    }
    case 'exchanging':
      if (event.type === 'token-response')
        return {
          state: {
            phase: 'done',
            tokens: withKey(TokenSet.fromResponse(event.response, event.nowMs), state.dpopKey),
          },
          effects: [],
        }
      if (event.type === 'token-error') return failedWith(tokenFailure(event, 'the code exchange'))
      return unexpected(state, event)
    default:
      return unexpected(state, event)
  }
}
