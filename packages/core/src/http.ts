/**
 * The interpreter for the HTTP effects of the flow machines, on oauth4webapi: it sends what an
 * effect asks for with an injected `fetch` and turns the answer (or the fault) into an event.
 * It never throws for a server's answer: OAuth errors, bad responses and network failures all
 * come back as events carrying typed evidence.
 *
 * @module
 */
import * as oauth from 'oauth4webapi'
import type { ClientEntry } from './contracts.ts'
import { KeyfobError, type KeyfobErrorCode, oauthError } from './errors.ts'
import type { DeviceAuthorization, Effect, Event, Failure } from './machines.ts'
import type { TokenResponse } from './tokens.ts'

/** A `fetch`, or anything shaped like one (an in-process mock's). */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** What the interpreter needs: the provider's metadata, the client, and the injected world. */
export interface HttpContext {
  /** The authorization server metadata, from {@link discover}. */
  readonly as: oauth.AuthorizationServer
  /** The client. A client with a secret authenticates with HTTP Basic, else with none (public). */
  readonly client: ClientEntry
  /** The `fetch` to use; default the global one. */
  readonly fetch?: FetchLike
  /** The clock (epoch ms); default `Date.now`. Also aligns oauth4webapi's ID-token time checks. */
  readonly now?: () => number
  /** Per-request timeout; default 30 000 ms. */
  readonly timeoutMs?: number
  /** Cancels the request. */
  readonly signal?: AbortSignal
  /** Allow plain `http:` endpoints (default: only for loopback hosts, never elsewhere). */
  readonly allowInsecure?: boolean
}

/** Options of {@link discover}. */
export interface DiscoverOptions {
  readonly fetch?: FetchLike
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
  /** `oidc` (default) reads `/.well-known/openid-configuration`; `oauth2` the RFC 8414 document. */
  readonly algorithm?: 'oidc' | 'oauth2'
  /** Allow plain `http:` (default: only for loopback hosts). */
  readonly allowInsecure?: boolean
  /** Extra attempts after a network error or a 5xx (a GET is safe to repeat); default 2. */
  readonly retries?: number
}

function isLoopback(url: URL): boolean {
  const host = url.hostname
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

function insecureAllowed(url: string, explicit: boolean | undefined): boolean {
  if (explicit !== undefined) return explicit
  const parsed = new URL(url)
  return parsed.protocol === 'http:' && isLoopback(parsed)
}

function requestSignal(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs)
  return signal ? AbortSignal.any([signal, timeout]) : timeout
}

/**
 * Fetches and validates the provider's metadata (the document's `issuer` must equal the one
 * asked for). Network errors and 5xx answers are retried a bounded number of times.
 *
 * @param issuer - The issuer identifier.
 * @param options - fetch, timeout, signal, algorithm, retries.
 * @returns The authorization server metadata.
 * @throws KeyfobError `ERR_ISSUER_MISMATCH`, `ERR_DISCOVERY` (status, content type in `cause`), `ERR_NETWORK`, `ERR_TIMEOUT`, `ERR_ABORTED`.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.3
 * @example
 * ```ts
 * const as = await discover('https://idp.example', { fetch: idp.fetch })
 * ```
 */
export async function discover(
  issuer: string,
  options: DiscoverOptions = {},
): Promise<oauth.AuthorizationServer> {
  if (!URL.canParse(issuer))
    throw new KeyfobError('ERR_INVALID_ARGUMENT', `issuer ${JSON.stringify(issuer)} is not an absolute URL`)
  const url = new URL(issuer)
  const retries = options.retries ?? 2
  const where = `discovery of ${issuer}`
  let last: unknown
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const response = await oauth.discoveryRequest(url, {
        algorithm: options.algorithm ?? 'oidc',
        signal: requestSignal(options.timeoutMs ?? 30_000, options.signal),
        ...(options.fetch ? { [oauth.customFetch]: options.fetch as never } : {}),
        ...(insecureAllowed(issuer, options.allowInsecure) ? { [oauth.allowInsecureRequests]: true } : {}),
      })
      if (response.status >= 500 && attempt < retries) {
        last = new KeyfobError('ERR_DISCOVERY', `${where} answered ${response.status}`, {
          cause: { status: response.status },
        })
        continue
      }
      return await oauth.processDiscoveryResponse(url, response)
    } catch (error) {
      const failure = toFailure(error, where, options.signal)
      if ((failure.code === 'ERR_NETWORK' || failure.code === 'ERR_TIMEOUT') && attempt < retries) {
        last = error
        continue
      }
      const code: KeyfobErrorCode =
        failure.code === 'ERR_INVALID_RESPONSE'
          ? 'ERR_DISCOVERY'
          : failure.code === 'ERR_OAUTH'
            ? 'ERR_DISCOVERY'
            : failure.code
      throw new KeyfobError(code, failure.message, { cause: failure.evidence ?? error })
    }
  }
  throw last instanceof KeyfobError
    ? last
    : new KeyfobError('ERR_DISCOVERY', `${where} failed`, { cause: last })
}

/** oauth4webapi's view of the client, with the injected clock as its clock skew. */
function clientOf(ctx: HttpContext): oauth.Client {
  const skewS = ctx.now ? Math.round((ctx.now() - Date.now()) / 1000) : 0
  return { client_id: ctx.client.clientId, ...(skewS !== 0 ? { [oauth.clockSkew]: skewS } : {}) }
}

function authOf(ctx: HttpContext): oauth.ClientAuth {
  return ctx.client.clientSecret !== undefined
    ? oauth.ClientSecretBasic(ctx.client.clientSecret)
    : oauth.None()
}

function optionsOf(ctx: HttpContext): oauth.TokenEndpointRequestOptions {
  return {
    signal: requestSignal(ctx.timeoutMs ?? 30_000, ctx.signal),
    ...(ctx.fetch ? { [oauth.customFetch]: ctx.fetch as never } : {}),
    ...(insecureAllowed(ctx.as.issuer, ctx.allowInsecure) ? { [oauth.allowInsecureRequests]: true } : {}),
  }
}

/** Turns anything thrown while talking to the provider into a {@link Failure} (no secret in it). */
export function toFailure(error: unknown, where: string, signal?: AbortSignal): Failure {
  if (error instanceof KeyfobError) return { code: error.code, message: error.message }
  if (signal?.aborted) return { code: 'ERR_ABORTED', message: `${where} was cancelled` }
  const name = (error as { name?: string } | undefined)?.name
  if (name === 'TimeoutError' || name === 'AbortError')
    return { code: 'ERR_TIMEOUT', message: `${where} timed out` }
  if (error instanceof oauth.OperationProcessingError) {
    const evidence = { oauth4webapi: error.code, ...statusOf(error.cause) }
    if (error.code === oauth.JSON_ATTRIBUTE_COMPARISON && /issuer/i.test(error.message)) {
      return {
        code: 'ERR_ISSUER_MISMATCH',
        message: `${where}: the document's issuer differs from the one configured (${error.message})`,
        evidence,
      }
    }
    if (error.code === oauth.HTTP_REQUEST_FORBIDDEN || error.code === oauth.REQUEST_PROTOCOL_FORBIDDEN) {
      return {
        code: 'ERR_INSECURE_REDIRECT',
        message: `${where}: refusing a non-https endpoint outside loopback (${error.message})`,
        evidence,
      }
    }
    return { code: 'ERR_INVALID_RESPONSE', message: `${where}: invalid response: ${error.message}`, evidence }
  }
  if (error instanceof oauth.UnsupportedOperationError)
    return { code: 'ERR_INVALID_ARGUMENT', message: `${where}: ${error.message}` }
  if (error instanceof TypeError)
    return {
      code: 'ERR_NETWORK',
      message: `${where} failed: ${error.message}; check the address and your network`,
    }
  return {
    code: 'ERR_INVALID_RESPONSE',
    message: `${where} failed: ${error instanceof Error ? error.message : String(error)}`,
  }
}

function statusOf(cause: unknown): Record<string, unknown> {
  if (cause instanceof Response) {
    return { status: cause.status, contentType: cause.headers.get('content-type') ?? undefined }
  }
  return {}
}

/** Maps an OAuth error answer to a `token-error` event, or a fault to a `failed` event. */
async function answerOf(error: unknown, where: string, ctx: HttpContext, nowMs: number): Promise<Event> {
  if (error instanceof oauth.ResponseBodyError) {
    return {
      type: 'token-error',
      error: error.error,
      ...(error.error_description !== undefined ? { description: error.error_description } : {}),
      status: error.status,
      nowMs,
    }
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    // RFC 6749 §5.2: a 401 invalid_client comes with a challenge; the JSON body says which error.
    let body: { error?: unknown; error_description?: unknown } = {}
    try {
      body = (await error.response.json()) as typeof body
    } catch {}
    const fromChallenge = error.cause[0]?.parameters.error
    const code =
      typeof body.error === 'string'
        ? body.error
        : (fromChallenge ?? (error.status === 401 ? 'invalid_client' : 'invalid_request'))
    return {
      type: 'token-error',
      error: code,
      ...(typeof body.error_description === 'string' ? { description: body.error_description } : {}),
      status: error.status,
      nowMs,
    }
  }
  if (error instanceof oauth.AuthorizationResponseError) {
    return {
      type: 'token-error',
      error: error.error,
      ...(error.error_description ? { description: error.error_description } : {}),
      nowMs,
    }
  }
  if (
    error instanceof oauth.OperationProcessingError &&
    error.cause instanceof Response &&
    error.cause.status >= 500
  ) {
    // A provider failing (an OAuth error body on a 5xx, or an HTML error page) is not a protocol error.
    const response = error.cause
    let oauthCode: string | undefined
    try {
      const body = (await response.clone().json()) as { error?: unknown }
      if (typeof body.error === 'string') oauthCode = body.error
    } catch {}
    const code =
      response.status === 503 || oauthCode === 'temporarily_unavailable'
        ? 'ERR_TEMPORARILY_UNAVAILABLE'
        : 'ERR_SERVER_ERROR'
    return {
      type: 'failed',
      failure: {
        code,
        message: `${where} answered ${response.status}${oauthCode ? ` (${oauthCode})` : ''}: the provider is failing; try again later`,
        evidence: {
          status: response.status,
          contentType: response.headers.get('content-type') ?? undefined,
          ...(oauthCode ? { error: oauthCode } : {}),
        },
      },
      nowMs,
    }
  }
  return { type: 'failed', failure: toFailure(error, where, ctx.signal), nowMs }
}

function plainTokens(response: oauth.TokenEndpointResponse): TokenResponse {
  const extra = response as unknown as { refresh_expires_in?: unknown }
  return {
    access_token: response.access_token,
    token_type: response.token_type,
    ...(response.expires_in !== undefined ? { expires_in: response.expires_in } : {}),
    ...(response.refresh_token !== undefined ? { refresh_token: response.refresh_token } : {}),
    ...(response.id_token !== undefined ? { id_token: response.id_token } : {}),
    ...(response.scope !== undefined ? { scope: response.scope } : {}),
    ...(typeof extra.refresh_expires_in === 'number' ? { refresh_expires_in: extra.refresh_expires_in } : {}),
  }
}

/**
 * Runs one HTTP effect (`device-authorization-request` or `token-request`) and returns the event
 * to feed back into the machine. Other effects (sleep, display, open-browser) belong to the
 * driver and are refused.
 *
 * @param effect - The effect.
 * @param ctx - Metadata, client, fetch, clock, timeout, signal.
 * @returns The event: a response, an OAuth error as `token-error`, or a fault as `failed`.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for an effect that is not an HTTP request.
 * @example
 * ```ts
 * let step = deviceTransition(deviceFlow({ scope: 'openid' }), { type: 'start', nowMs: Date.now() })
 * const event = await runHttpEffect(step.effects[0], { as, client: { clientId: 'cli' } })
 * ```
 */
export async function runHttpEffect(effect: Effect, ctx: HttpContext): Promise<Event> {
  const now = ctx.now ?? Date.now
  const client = clientOf(ctx)
  const auth = authOf(ctx)
  const options = optionsOf(ctx)
  const endpoint = ctx.as.token_endpoint ?? ctx.as.issuer
  if (effect.type === 'device-authorization-request') {
    const where = `the device authorization request to ${ctx.as.device_authorization_endpoint ?? ctx.as.issuer}`
    try {
      const params = new URLSearchParams(effect.parameters)
      if (effect.scope) params.set('scope', effect.scope)
      if (effect.codeChallenge !== undefined) {
        params.set('code_challenge', effect.codeChallenge)
        params.set('code_challenge_method', 'S256')
      }
      const response = await oauth.processDeviceAuthorizationResponse(
        ctx.as,
        client,
        await oauth.deviceAuthorizationRequest(ctx.as, client, auth, params, options),
      )
      const device: DeviceAuthorization = {
        device_code: response.device_code,
        user_code: response.user_code,
        verification_uri: response.verification_uri,
        ...(response.verification_uri_complete !== undefined
          ? { verification_uri_complete: response.verification_uri_complete }
          : {}),
        expires_in: response.expires_in,
        ...(response.interval !== undefined ? { interval: response.interval } : {}),
      }
      return { type: 'device-authorization', response: device, nowMs: now() }
    } catch (error) {
      return answerOf(error, where, ctx, now())
    }
  }
  if (effect.type !== 'token-request') {
    throw new KeyfobError('ERR_INVALID_ARGUMENT', `runHttpEffect runs HTTP effects only, not ${effect.type}`)
  }
  const request = effect.request
  const where = `the ${request.grant} token request to ${endpoint}`
  try {
    let response: oauth.TokenEndpointResponse
    switch (request.grant) {
      case 'device_code':
        response = await oauth.processDeviceCodeResponse(
          ctx.as,
          client,
          await oauth.deviceCodeGrantRequest(ctx.as, client, auth, request.deviceCode, {
            ...options,
            ...(request.codeVerifier !== undefined
              ? { additionalParameters: { code_verifier: request.codeVerifier } }
              : {}),
          }),
        )
        break
      case 'refresh_token':
        response = await oauth.processRefreshTokenResponse(
          ctx.as,
          client,
          await oauth.refreshTokenGrantRequest(ctx.as, client, auth, request.refreshToken, {
            ...options,
            ...(request.scope !== undefined ? { additionalParameters: { scope: request.scope } } : {}),
          }),
        )
        break
      case 'client_credentials':
        response = await oauth.processClientCredentialsResponse(
          ctx.as,
          client,
          await oauth.clientCredentialsGrantRequest(
            ctx.as,
            client,
            auth,
            new URLSearchParams(request.scope ? { scope: request.scope } : {}),
            options,
          ),
        )
        break
      case 'password':
        response = await oauth.processGenericTokenEndpointResponse(
          ctx.as,
          client,
          await oauth.genericTokenEndpointRequest(
            ctx.as,
            client,
            auth,
            'password',
            new URLSearchParams({
              username: request.username,
              password: request.password,
              ...(request.scope ? { scope: request.scope } : {}),
            }),
            options,
          ),
        )
        break
      case 'authorization_code': {
        const callback = oauth.validateAuthResponse(
          ctx.as,
          client,
          new URLSearchParams(request.callback),
          request.expectedState,
        )
        response = await oauth.processAuthorizationCodeResponse(
          ctx.as,
          client,
          await oauth.authorizationCodeGrantRequest(
            ctx.as,
            client,
            auth,
            callback,
            request.redirectUri,
            request.codeVerifier,
            options,
          ),
          { expectedNonce: request.expectedNonce, requireIdToken: ctx.as.userinfo_endpoint !== undefined },
        )
        break
      }
    }
    return { type: 'token-response', response: plainTokens(response), nowMs: now() }
  } catch (error) {
    return answerOf(error, where, ctx, now())
  }
}

/**
 * Revokes one token at the provider (RFC 7009) through oauth4webapi. Revoking a refresh token
 * ends its grant on most providers.
 *
 * @param ctx - Provider metadata, client, fetch, timeout.
 * @param token - The token to revoke; it never appears in an error.
 * @param hint - `refresh_token` or `access_token`.
 * @throws KeyfobError `ERR_UNSUPPORTED` when the provider advertises no revocation endpoint; an OAuth code (`ERR_INVALID_CLIENT`, …) for an error answer; `ERR_NETWORK`, `ERR_TIMEOUT`, `ERR_INVALID_RESPONSE`.
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 * @example
 * ```ts
 * await revokeToken({ as, client: { clientId: 'cli' } }, record.refreshToken, 'refresh_token')
 * ```
 */
export async function revokeToken(
  ctx: HttpContext,
  token: string,
  hint: 'refresh_token' | 'access_token',
): Promise<void> {
  const where = `revocation at ${ctx.as.revocation_endpoint ?? ctx.as.issuer}`
  if (ctx.as.revocation_endpoint === undefined)
    throw new KeyfobError('ERR_UNSUPPORTED', `${ctx.as.issuer} advertises no revocation endpoint`)
  try {
    const response = await oauth.revocationRequest(ctx.as, clientOf(ctx), authOf(ctx), token, {
      ...optionsOf(ctx),
      additionalParameters: { token_type_hint: hint },
    })
    await oauth.processRevocationResponse(response)
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) {
      throw oauthError(
        {
          error: error.error,
          ...(error.error_description !== undefined ? { errorDescription: error.error_description } : {}),
          status: error.status,
        },
        where,
      )
    }
    const failure = toFailure(error, where, ctx.signal)
    throw new KeyfobError(failure.code, failure.message, failure.evidence ? { cause: failure.evidence } : {})
  }
}

/**
 * A fresh `state` value (32 random bytes, base64url) for an authorization request.
 *
 * @returns The value.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.12
 * @example
 * ```ts
 * const state = randomState()
 * ```
 */
export function randomState(): string {
  return oauth.generateRandomState()
}

/**
 * A fresh PKCE pair: a CSPRNG verifier (32 random bytes, base64url) and its S256 challenge.
 *
 * @returns The verifier, kept by the client, and the challenge, sent with the first request.
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4
 * @example
 * ```ts
 * const pkce = await createPkce()
 * const state = deviceFlow({ scope: 'openid', pkce })
 * ```
 */
export async function createPkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = oauth.generateRandomCodeVerifier()
  return { verifier, challenge: await oauth.calculatePKCECodeChallenge(verifier) }
}

/**
 * Everything an authorization code flow needs up front: a CSPRNG PKCE verifier (S256), `state`,
 * `nonce`, and the authorization URL built from them.
 *
 * @param as - The provider's metadata.
 * @param input - Client id, redirect URI, scope, and extra authorization parameters.
 * @returns The values for {@link codeFlow}.
 * @throws KeyfobError `ERR_DISCOVERY` when the provider has no authorization endpoint.
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4
 * @example
 * ```ts
 * const start = await prepareAuthorization(as, { clientId: 'cli', redirectUri, scope: 'openid' })
 * const initial = codeFlow(start)
 * ```
 */
export async function prepareAuthorization(
  as: oauth.AuthorizationServer,
  input: {
    readonly clientId: string
    readonly redirectUri: string
    readonly scope: string
    /** The `state` to use (default: a fresh random one); a loopback server may need it first. */
    readonly state?: string
    /** Extra authorization parameters (openEO's `authorization_parameters`). */
    readonly extra?: Readonly<Record<string, string>>
  },
): Promise<{
  authorizationUrl: string
  redirectUri: string
  codeVerifier: string
  state: string
  nonce: string
}> {
  if (!as.authorization_endpoint) {
    throw new KeyfobError(
      'ERR_DISCOVERY',
      `provider ${as.issuer} has no authorization_endpoint; use the device flow instead`,
    )
  }
  const codeVerifier = oauth.generateRandomCodeVerifier()
  const state = input.state ?? oauth.generateRandomState()
  const nonce = oauth.generateRandomNonce()
  const url = new URL(as.authorization_endpoint)
  // Extras first, protocol parameters last: an extra can never replace redirect_uri, state, PKCE.
  const params = {
    ...input.extra,
    response_type: 'code',
    client_id: input.clientId,
    redirect_uri: input.redirectUri,
    scope: input.scope,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  }
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value)
  return { authorizationUrl: url.href, redirectUri: input.redirectUri, codeVerifier, state, nonce }
}
