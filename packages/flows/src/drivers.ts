/**
 * The drivers: run a `@keyfob/core` machine to the end, executing its effects — HTTP through the
 * interpreter, sleeps on the injected clock, the device code through a display hook, the browser
 * through the open hook and the loopback server.
 *
 * @module
 */
import {
  type ClientEntry,
  clientCredentialsFlow,
  codeFlow,
  codeTransition,
  createPkce,
  type DPoPKey,
  type DPoPKeyRecord,
  type DPoPSetting,
  deviceFlow,
  deviceTransition,
  discover,
  dpopAlgorithm,
  dpopHandle,
  type Effect,
  type Event,
  type FetchLike,
  generateDPoPKey,
  type HttpContext,
  importDPoPKey,
  KeyfobError,
  type KeyfobErrorCode,
  oauthError,
  passwordFlow,
  prepareAuthorization,
  randomState,
  refreshFlow,
  requestTransition,
  resourcesOf,
  runHttpEffect,
  type Step,
  type Terminal,
  type TokenRecord,
  TokenSet,
} from '@keyfob/core'
import { type OpenBrowser, openSystemBrowser } from './browser.ts'
import { type LoopbackOptions, startLoopbackServer } from './loopback.ts'

type AuthorizationServer = HttpContext['as']

/** What every driver takes: where the provider is, who the client is, and the injected world. */
export interface DriverOptions {
  /** The provider: its issuer (discovered on first use) or its metadata. */
  readonly issuer?: string
  /** The provider's metadata, when already discovered. */
  readonly metadata?: AuthorizationServer
  /** The client. */
  readonly client: ClientEntry
  /** The `fetch` to use; default the global one. */
  readonly fetch?: FetchLike
  /** The clock (epoch ms); default `Date.now`. */
  readonly now?: () => number
  /** Waits until a time on that clock; default a timer. Tests pass one that moves a mock clock. */
  readonly sleep?: (untilMs: number, signal?: AbortSignal) => Promise<void>
  /** Cancels the flow (`ERR_ABORTED`). */
  readonly signal?: AbortSignal
  /** Per-request timeout; default 30 000 ms. */
  readonly timeoutMs?: number
  /** Allow plain `http:` outside loopback (never do this outside a test). */
  readonly allowInsecure?: boolean
  /**
   * DPoP-bound tokens for a login (RFC 9449): `true` (an algorithm the provider advertises) or
   * `{ alg }`. The login makes a fresh key pair, every token request carries a proof, and the
   * resulting record holds the key (`dpopKey`). A refresh always uses its record's key.
   */
  readonly dpop?: DPoPSetting
  /**
   * Resource indicators (RFC 8707): the APIs the login's tokens are for. All go with the
   * authorization and device-authorization requests, the first with the code exchange, device
   * polls and refreshes (the login's own access token is for it; a {@link Session} gets one for
   * another resource by a refresh naming it). The client-credentials grant has no authorization
   * request, so all go with its token request (RFC 8707 §2.2: one token for several APIs); a
   * provider that issues a token for one API only (oidc-provider) answers `invalid_target`.
   */
  readonly resource?: string | readonly string[]
}

/** Codes worth one more attempt of a request that is safe to repeat. */
const TRANSIENT: ReadonlySet<KeyfobErrorCode> = new Set([
  'ERR_NETWORK',
  'ERR_TIMEOUT',
  'ERR_SERVER_ERROR',
  'ERR_TEMPORARILY_UNAVAILABLE',
])

/**
 * Requests that may be sent again after a transient failure: never a code, never a refresh token.
 * A pushed authorization request carries neither: the provider answers a new `request_uri`.
 */
function repeatable(effect: Effect): boolean {
  if (effect.type === 'device-authorization-request' || effect.type === 'pushed-authorization-request')
    return true
  return (
    effect.type === 'token-request' &&
    ['client_credentials', 'password', 'device_code'].includes(effect.request.grant)
  )
}

function defaultSleep(now: () => number): (untilMs: number, signal?: AbortSignal) => Promise<void> {
  return (untilMs, signal) =>
    new Promise<void>((resolve, reject) => {
      signal?.throwIfAborted()
      const timer = setTimeout(done, Math.max(0, untilMs - now()))
      function onAbort() {
        clearTimeout(timer)
        reject(signal?.reason)
      }
      function done() {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
}

/**
 * The driver options out of a larger options object (a session's): the one place that knows
 * which fields reach discovery, the interpreter and the drivers. @internal
 */
export function driverOptionsOf(options: DriverOptions): DriverOptions {
  return {
    client: options.client,
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
    ...(options.metadata ? { metadata: options.metadata } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.allowInsecure !== undefined ? { allowInsecure: options.allowInsecure } : {}),
    ...(options.dpop !== undefined ? { dpop: options.dpop } : {}),
    ...(options.resource !== undefined ? { resource: options.resource } : {}),
  }
}

/**
 * A login's DPoP key, when the options ask for one: the algorithm from the setting or the
 * provider's metadata, a fresh key pair, and the handle that signs with it. @internal
 */
export async function newLoginKey(
  as: AuthorizationServer,
  options: DriverOptions,
): Promise<{ readonly key: DPoPKey; readonly handle: NonNullable<HttpContext['dpop']> } | undefined> {
  if (options.dpop === undefined || options.dpop === false) return undefined
  const key = await generateDPoPKey(dpopAlgorithm(as, options.dpop))
  return { key, handle: dpopHandle(key.keyPair, options.now ? { now: options.now } : {}) }
}

/**
 * The DPoP handle of a stored key (imported as non-extractable), or `undefined` for a record
 * without one. @internal
 */
export async function storedKeyHandle(
  dpopKey: DPoPKeyRecord | undefined,
  now: (() => number) | undefined,
): Promise<HttpContext['dpop']> {
  if (dpopKey === undefined) return undefined
  return dpopHandle(await importDPoPKey(dpopKey), now ? { now } : {})
}

/** Discovers the provider unless its metadata was given. @internal */
export async function metadataOf(options: DriverOptions): Promise<AuthorizationServer> {
  if (options.metadata) return options.metadata
  if (options.issuer === undefined)
    throw new KeyfobError('ERR_INVALID_ARGUMENT', 'pass the provider as `issuer` or `metadata`')
  return discover(options.issuer, {
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.allowInsecure !== undefined ? { allowInsecure: options.allowInsecure } : {}),
  })
}

/** The interpreter's context for a provider and the driver options. @internal */
export function contextOf(as: AuthorizationServer, options: DriverOptions): HttpContext {
  return {
    as,
    client: options.client,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.allowInsecure !== undefined ? { allowInsecure: options.allowInsecure } : {}),
  }
}

/**
 * Runs a machine to its terminal state. HTTP effects go through the interpreter (a repeatable
 * request gets two more attempts after a transient failure), sleeps through `sleep`, everything
 * else through `other`. Cancellation becomes a `cancel` event.
 */
async function run<S>(
  transition: (state: S, event: Event) => Step<S>,
  initial: S,
  ctx: HttpContext,
  options: DriverOptions,
  other: (effect: Effect) => Promise<Event | undefined>,
): Promise<TokenSet> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? defaultSleep(now)
  let step = transition(initial, { type: 'start', nowMs: now() })
  while (step.effects.length > 0) {
    const events: Event[] = []
    for (const effect of step.effects) {
      if (options.signal?.aborted) {
        events.push({ type: 'cancel', nowMs: now() })
        break
      }
      try {
        if (effect.type === 'sleep') {
          await sleep(effect.untilMs, options.signal)
          events.push({ type: 'woke', nowMs: now() })
        } else if (
          effect.type === 'token-request' ||
          effect.type === 'device-authorization-request' ||
          effect.type === 'pushed-authorization-request'
        ) {
          let event = await runHttpEffect(effect, ctx)
          for (
            let attempt = 0;
            attempt < 2 && event.type === 'failed' && TRANSIENT.has(event.failure.code) && repeatable(effect);
            attempt++
          ) {
            event = await runHttpEffect(effect, ctx)
          }
          events.push(event)
        } else {
          const event = await other(effect)
          if (event) events.push(event)
        }
      } catch (error) {
        if (options.signal?.aborted) events.push({ type: 'cancel', nowMs: now() })
        else if (error instanceof KeyfobError)
          events.push({
            type: 'failed',
            failure: { code: error.code, message: error.message, evidence: { cause: error.cause } },
            nowMs: now(),
          })
        else throw error
      }
    }
    for (const event of events) step = transition(step.state, event)
  }
  const final = step.state as Terminal | { phase: string }
  if (final.phase === 'done')
    return TokenSet.fromRecord((final as Extract<Terminal, { phase: 'done' }>).tokens)
  if (final.phase === 'failed') {
    const { failure } = final as Extract<Terminal, { phase: 'failed' }>
    throw new KeyfobError(failure.code, failure.message, { cause: failure.evidence })
  }
  throw new KeyfobError(
    'ERR_INVALID_ARGUMENT',
    `the flow stopped in state ${final.phase} with nothing left to do`,
  )
}

/** What a device login shows the user (RFC 8628 §3.3). */
export interface DeviceCodeDisplay {
  /** The code to type. */
  readonly userCode: string
  /** Where to type it. */
  readonly verificationUri: string
  /** A URL with the code filled in, when the provider gives one: show it (and a QR code) first. */
  readonly verificationUriComplete?: string
  /** When the code expires (epoch ms on the driver's clock). */
  readonly expiresAtMs: number
}

/** Options of {@link deviceLogin}. */
export interface DeviceLoginOptions extends DriverOptions {
  /** The scope to ask for; default `openid offline_access`. */
  readonly scope?: string
  /** Give up after this long (default 300 000 ms); the code's own expiry may come sooner. */
  readonly maxPollMs?: number
  /** Shows the code to the user; default: one line on the console. */
  readonly display?: (info: DeviceCodeDisplay) => void | Promise<void>
  /**
   * Use PKCE (S256) with the device grant. Default as openEO decides: on for a client without a
   * secret whose grant types include `urn:ietf:params:oauth:grant-type:device_code+pkce`.
   */
  readonly pkce?: boolean
  /** Extra device authorization request parameters (openEO's `authorization_parameters`). */
  readonly authorizationParameters?: Readonly<Record<string, string>>
}

const DEVICE_PKCE = 'urn:ietf:params:oauth:grant-type:device_code+pkce'

function consoleDisplay(info: DeviceCodeDisplay): void {
  const target = info.verificationUriComplete ?? info.verificationUri
  console.log(
    info.verificationUriComplete
      ? `To log in, visit ${target} (code ${info.userCode}).`
      : `To log in, visit ${target} and enter the code ${info.userCode}.`,
  )
}

/**
 * Logs a user in with the device authorization grant: shows the code through `display`, polls at
 * the server's interval (5 s when it gives none; `slow_down` adds 5 s), and ends with tokens.
 * PKCE (S256) goes along for openEO's `device_code+pkce` clients, or when `pkce` says so. With
 * `dpop`, the login makes a key pair and its tokens are bound to it; `resource` names the APIs.
 *
 * @param options - Provider, client, scope, display hook, poll limit, PKCE, extra parameters, clock, signal.
 * @returns The tokens.
 * @throws KeyfobError `ERR_ACCESS_DENIED`, `ERR_EXPIRED_TOKEN`, `ERR_TIMEOUT`, `ERR_ABORTED`, `ERR_DPOP_UNSUPPORTED`, `ERR_DPOP_NOT_BOUND`, `ERR_INVALID_TARGET`, or the code of any other failure.
 * @see https://www.rfc-editor.org/rfc/rfc8628
 * @example
 * ```ts
 * import { deviceLogin } from '@keyfob/flows'
 * const tokens = await deviceLogin({ issuer: 'https://idp.example', client: { clientId: 'cli' } })
 * ```
 */
export async function deviceLogin(options: DeviceLoginOptions): Promise<TokenSet> {
  const as = await metadataOf(options)
  const display = options.display ?? consoleDisplay
  const usePkce =
    options.pkce ??
    (options.client.clientSecret === undefined && (options.client.grantTypes ?? []).includes(DEVICE_PKCE))
  const resource = resourcesOf(options.resource)
  const dpop = await newLoginKey(as, options)
  return run(
    deviceTransition,
    deviceFlow({
      scope: options.scope ?? 'openid offline_access',
      ...(options.maxPollMs !== undefined ? { maxPollMs: options.maxPollMs } : {}),
      ...(usePkce ? { pkce: await createPkce() } : {}),
      ...(options.authorizationParameters ? { parameters: options.authorizationParameters } : {}),
      ...(resource.length ? { resource } : {}),
      ...(dpop ? { dpopKey: dpop.key.record } : {}),
    }),
    { ...contextOf(as, options), ...(dpop ? { dpop: dpop.handle } : {}) },
    options,
    async (effect) => {
      if (effect.type === 'display-device-code') {
        await display({
          userCode: effect.userCode,
          verificationUri: effect.verificationUri,
          ...(effect.verificationUriComplete !== undefined
            ? { verificationUriComplete: effect.verificationUriComplete }
            : {}),
          expiresAtMs: effect.expiresAtMs,
        })
      }
      return undefined
    },
  )
}

/** Options of {@link browserLogin}. */
export interface BrowserLoginOptions extends DriverOptions {
  /** The scope to ask for; default `openid offline_access`. */
  readonly scope?: string
  /** Opens the authorization URL; default the system browser. Pass `async () => false` for none. */
  readonly openBrowser?: OpenBrowser
  /** Always called with the authorization URL (default: printed), so the user can open it by hand. */
  readonly onUrl?: (url: string) => void
  /** Where the loopback server listens and how long it waits (default 127.0.0.1, a free port, 60 s). */
  readonly loopback?: Pick<
    LoopbackOptions,
    'hostname' | 'port' | 'path' | 'timeoutMs' | 'listen' | 'onIgnored'
  >
  /** Extra authorization parameters. */
  readonly authorizationParameters?: Readonly<Record<string, string>>
  /**
   * Ask for the authorization URL once before the browser does (default `true`), so that a
   * provider refusing the request outright (an unregistered redirect URI, an unknown client)
   * fails the login at once with its answer instead of leaving it to time out.
   */
  readonly preflight?: boolean
  /**
   * Pushed authorization requests (RFC 9126): `'auto'` (default) pushes when the provider
   * requires it (`require_pushed_authorization_requests` in discovery), or when it has a PAR
   * endpoint and refuses the plain request's preflight with `invalid_request` (a client that must
   * push, RFC 9126 §6, which discovery does not show); `true` always (the provider must have
   * a `pushed_authorization_request_endpoint`: else `ERR_UNSUPPORTED`), `false` never. A pushed
   * request skips the preflight: the push itself checks it, and its `request_uri` is single-use.
   */
  readonly par?: boolean | 'auto'
}

/**
 * What the provider answers to the authorization request itself: an error page (4xx/5xx) or an
 * error redirect to us means the login cannot work, and waiting for the browser would only time
 * out. A login page, or any other redirect, is what a working request gets.
 */
async function preflight(url: string, redirectUri: string, options: BrowserLoginOptions): Promise<void> {
  const where = `the authorization request to ${new URL(url).origin}${new URL(url).pathname}`
  let response: Response
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), Math.min(options.timeoutMs ?? 30_000, 10_000))
  const onAbort = () => controller.abort()
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    response = await (options.fetch ?? fetch)(url, { redirect: 'manual', signal: controller.signal })
    await response.body?.cancel().catch(() => {})
  } catch {
    return // unreachable from here is not proof of anything: the browser may still get through
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }
  const location = response.headers.get('location')
  if (response.status >= 300 && response.status < 400 && location !== null) {
    const target = new URL(location, url)
    const error = target.searchParams.get('error')
    if (error !== null && target.href.startsWith(redirectUri)) {
      throw oauthError(
        {
          error,
          ...(target.searchParams.get('error_description') !== null
            ? { errorDescription: target.searchParams.get('error_description') as string }
            : {}),
        },
        where,
      )
    }
    return
  }
  if (response.status >= 400) {
    throw new KeyfobError(
      'ERR_AUTHORIZATION_REFUSED',
      `${where} was refused with ${response.status}: the provider will not send the browser back to ${redirectUri}; check that this redirect URI is registered for client ${options.client.clientId} (a provider that registers exact redirect URIs needs a fixed port)`,
      { cause: { status: response.status, redirectUri } },
    )
  }
}

/**
 * Logs a user in with the authorization code grant and PKCE (S256) through the browser and a
 * loopback redirect server on 127.0.0.1 (RFC 8252). The URL is always given to `onUrl`; the
 * browser is opened unless `openBrowser` says otherwise. The request is pushed first (RFC 9126)
 * when `par` says so; with `dpop` the login makes a key pair and binds the code (`dpop_jkt`, or
 * the pushed request's proof) and the tokens to it; `resource` names the APIs (RFC 8707).
 *
 * @param options - Provider, client, scope, browser hook, loopback settings, signal.
 * @returns The tokens (the ID token checked for nonce and issuer by oauth4webapi).
 * @throws KeyfobError `ERR_DPOP_UNSUPPORTED`, `ERR_DPOP_NOT_BOUND`, `ERR_INVALID_TARGET`, `ERR_UNSUPPORTED` (`par: true` without a PAR endpoint), `ERR_AUTHORIZATION_REFUSED` (the provider answered the authorization request with an error page), `ERR_ACCESS_DENIED` and other OAuth codes, `ERR_TIMEOUT` (a redirect with another `state` is ignored, and counted in the message), `ERR_ABORTED`, `ERR_PORT_IN_USE`, or the code of any other failure.
 * @see https://www.rfc-editor.org/rfc/rfc8252 and RFC 7636
 * @example
 * ```ts
 * import { browserLogin } from '@keyfob/flows'
 * const tokens = await browserLogin({ issuer: 'https://idp.example', client: { clientId: 'cli' } })
 * ```
 */
export async function browserLogin(options: BrowserLoginOptions): Promise<TokenSet> {
  const as = await metadataOf(options)
  const resource = resourcesOf(options.resource)
  const par = options.par ?? 'auto'
  let push = par === true || (par === 'auto' && as.require_pushed_authorization_requests === true)
  const dpop = await newLoginKey(as, options)
  const state = randomState()
  const server = await startLoopbackServer({
    ...options.loopback,
    expectedState: state,
    ...(options.signal ? { signal: options.signal } : {}),
  })
  try {
    const prepare = async () =>
      prepareAuthorization(as, {
        clientId: options.client.clientId,
        redirectUri: server.redirectUri,
        scope: options.scope ?? 'openid offline_access',
        state,
        ...(options.authorizationParameters ? { extra: options.authorizationParameters } : {}),
        ...(resource.length ? { resource } : {}),
        // A pushed request is bound to the key by its proof; a plain one by dpop_jkt (RFC 9449 §10).
        ...(dpop && !push ? { dpopJkt: await dpop.handle.calculateThumbprint() } : {}),
      })
    let start = await prepare()
    if (options.preflight !== false && !push) {
      try {
        await preflight(start.authorizationUrl, server.redirectUri, options)
      } catch (error) {
        // A client's own require_pushed_authorization_requests (RFC 9126 §6) is registration
        // metadata, not in discovery: the provider refuses the plain request with
        // invalid_request. With 'auto' and a PAR endpoint, push it instead (once).
        const refusedPlain = error instanceof KeyfobError && error.code === 'ERR_INVALID_REQUEST'
        if (!(refusedPlain && par === 'auto' && as.pushed_authorization_request_endpoint)) throw error
        push = true
        start = await prepare()
      }
    }
    const openBrowser = options.openBrowser ?? openSystemBrowser
    const onUrl = options.onUrl ?? ((url: string) => console.log(`Open this URL to log in: ${url}`))
    const initial = codeFlow({
      ...start,
      ...(push ? { push } : {}),
      ...(resource.length ? { resource } : {}),
      ...(dpop ? { dpopKey: dpop.key.record } : {}),
    })
    const ctx = { ...contextOf(as, options), ...(dpop ? { dpop: dpop.handle } : {}) }
    return await run(codeTransition, initial, ctx, options, async (effect) => {
      if (effect.type !== 'open-browser') return undefined
      onUrl(effect.url)
      await openBrowser(effect.url)
      const params = await server.callback
      return { type: 'callback', params: Object.fromEntries(params), nowMs: (options.now ?? Date.now)() }
    })
  } finally {
    await server.close()
  }
}

/**
 * Gets a token for the client itself (RFC 6749 §4.4). The client must have a secret.
 *
 * @param options - Provider, client (with secret), scope; `resource`: every one goes with the token request.
 * @returns The tokens (no refresh token: run it again when the access token expires).
 * @throws KeyfobError `ERR_INVALID_CLIENT`, `ERR_UNAUTHORIZED_CLIENT`, `ERR_INVALID_SCOPE`, `ERR_INVALID_TARGET` (a resource, or several of them, the provider refuses), or a transport code.
 * @example
 * ```ts
 * const tokens = await clientCredentials({ issuer, client: { clientId: 'svc', clientSecret } })
 * ```
 */
export async function clientCredentials(
  options: DriverOptions & { readonly scope?: string },
): Promise<TokenSet> {
  const as = await metadataOf(options)
  const dpop = await newLoginKey(as, options)
  const tokens = await run(
    requestTransition,
    clientCredentialsFlow(options.scope, resourcesOf(options.resource)),
    { ...contextOf(as, options), ...(dpop ? { dpop: dpop.handle } : {}) },
    options,
    async () => undefined,
  )
  return dpop ? TokenSet.fromRecord({ ...tokens.toRecord(), dpopKey: dpop.key.record }) : tokens
}

/**
 * The resource-owner password grant (RFC 6749 §4.3), for legacy systems that offer nothing else.
 * Like the other logins it can be DPoP-bound (`dpop`: a new key pair, returned in the record)
 * and name the APIs it is for (`resource`, RFC 8707).
 *
 * @param options - Provider, client, username, password, scope, `dpop`, `resource`.
 * @returns The tokens (with the DPoP key in the record when `dpop` is set).
 * @throws KeyfobError `ERR_INVALID_GRANT` for a wrong password, `ERR_INVALID_TARGET`, `ERR_DPOP_UNSUPPORTED`, `ERR_DPOP_NOT_BOUND`, or another code.
 * @example
 * ```ts
 * const tokens = await passwordLogin({ issuer, client, username: 'alice', password, dpop: true })
 * ```
 */
export async function passwordLogin(
  options: DriverOptions & { readonly username: string; readonly password: string; readonly scope?: string },
): Promise<TokenSet> {
  const as = await metadataOf(options)
  const dpop = await newLoginKey(as, options)
  const tokens = await run(
    requestTransition,
    passwordFlow(options.username, options.password, options.scope, resourcesOf(options.resource)),
    { ...contextOf(as, options), ...(dpop ? { dpop: dpop.handle } : {}) },
    options,
    async () => undefined,
  )
  return dpop ? TokenSet.fromRecord({ ...tokens.toRecord(), dpopKey: dpop.key.record }) : tokens
}

/**
 * Uses a refresh token once (RFC 6749 §6). Never retried: a rotated refresh token sent twice
 * revokes the whole grant at providers that detect reuse. A record with a DPoP key is refreshed
 * with a proof signed by that key, and the new record keeps it; `resource` names the API the new
 * access token is for (its first entry, RFC 8707 §2.2).
 *
 * @param options - Provider, client, the stored record, an optional narrower scope, a resource, the key's handle.
 * @returns The new tokens; the old refresh token is kept when the provider sends none.
 * @throws KeyfobError `ERR_NO_REFRESH_TOKEN`, `ERR_INVALID_GRANT` (log in again), `ERR_INVALID_TARGET` (a resource the provider refuses), `ERR_DPOP_NOT_BOUND`, or a transport code.
 * @example
 * ```ts
 * const next = await refreshTokens({ issuer, client, record: stored })
 * ```
 */
export async function refreshTokens(
  options: DriverOptions & {
    readonly record: TokenRecord
    readonly scope?: string
    /** The record key's DPoP handle, to reuse its nonces; default one made from `record.dpopKey`. */
    readonly dpopHandle?: HttpContext['dpop']
  },
): Promise<TokenSet> {
  const as = await metadataOf(options)
  const dpop = options.dpopHandle ?? (await storedKeyHandle(options.record.dpopKey, options.now))
  return run(
    requestTransition,
    refreshFlow(options.record, options.scope, resourcesOf(options.resource).slice(0, 1)),
    { ...contextOf(as, options), ...(dpop ? { dpop } : {}) },
    options,
    async () => undefined,
  )
}

/**
 * An HTTP Basic `Authorization` header value, for APIs that take Basic credentials (openEO's
 * `/credentials/basic`). User id and password are encoded as UTF-8.
 *
 * @param username - The user id; it must not contain `:` (RFC 7617 §2).
 * @param password - The password.
 * @returns `Basic <base64>`.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for a user id with a colon.
 * @see https://www.rfc-editor.org/rfc/rfc7617
 * @example
 * ```ts
 * await fetch(`${api}/credentials/basic`, { headers: { authorization: basicAuthorization('u', 'p') } })
 * ```
 */
export function basicAuthorization(username: string, password: string): string {
  if (username.includes(':'))
    throw new KeyfobError('ERR_INVALID_ARGUMENT', 'a Basic user id must not contain ":" (RFC 7617 §2)')
  const bytes = new TextEncoder().encode(`${username}:${password}`)
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return `Basic ${btoa(binary)}`
}
