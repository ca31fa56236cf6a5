/**
 * The interpreter for the HTTP effects of the flow machines, on oauth4webapi: it sends what an
 * effect asks for with an injected `fetch` and turns the answer (or the fault) into an event.
 * It never throws for a server's answer: OAuth errors, non-OAuth error pages, bad responses and
 * network failures all come back as events carrying typed evidence.
 *
 * This is the one part of `@keyfob/core` that does I/O, and so the one part with a timer: each
 * request is bounded by a `setTimeout` it clears when the request (body included) is done. The
 * clock is `HttpContext.now` (default `Date.now`); the machines themselves stay pure.
 *
 * @module
 */
import * as oauth from 'oauth4webapi'
import type { ClientEntry, TokenEndpointAuthMethod } from './contracts.ts'
import { KeyfobError, type KeyfobErrorCode, oauthError } from './errors.ts'
import type { DeviceAuthorization, Effect, Event, Failure, TokenRequest } from './machines.ts'
import type { TokenResponse } from './tokens.ts'

/** A `fetch`, or anything shaped like one (an in-process mock's). */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** What the interpreter needs: the provider's metadata, the client, and the injected world. */
export interface HttpContext {
  /** The authorization server metadata, from {@link discover}. */
  readonly as: oauth.AuthorizationServer
  /**
   * The client. It authenticates at the token, device and revocation endpoints as its
   * `tokenEndpointAuthMethod` says, else as {@link clientAuthMethod} picks from the provider's
   * metadata (a secret: `client_secret_basic` unless the provider lists only
   * `client_secret_post`; no secret: `none`).
   */
  readonly client: ClientEntry
  /** The `fetch` to use; default the global one. */
  readonly fetch?: FetchLike
  /** The clock (epoch ms); default `Date.now`. Also aligns oauth4webapi's ID-token time checks. */
  readonly now?: () => number
  /** Per-request timeout, body included; default 30 000 ms. An effect's `deadlineMs` can shorten it. */
  readonly timeoutMs?: number
  /** Cancels the request. */
  readonly signal?: AbortSignal
  /** Allow plain `http:` endpoints (default: only for loopback hosts, never elsewhere). */
  readonly allowInsecure?: boolean
  /**
   * The login's DPoP handle ({@link dpopHandle}), for DPoP-bound tokens (RFC 9449): the token,
   * pushed-authorization and userinfo requests carry a proof signed with its key, a
   * `use_dpop_nonce` answer is retried once with the server's nonce, and a token response that is
   * not DPoP-bound fails with `ERR_DPOP_NOT_BOUND`.
   */
  readonly dpop?: oauth.DPoPHandle
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

/**
 * Runs `fn` with a signal that aborts when the caller's `signal` does or after `timeoutMs`,
 * whichever comes first, and releases the timer and the listener when `fn` settles.
 *
 * Not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`: on Node 20 such a composite holds its
 * timeout signal only weakly, so after a garbage collection the timeout never fires
 * (nodejs/node#57736). Here the timer is a plain `setTimeout` held until cleared.
 */
async function withTimeout<T>(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController()
  const onAbort = () => controller.abort(signal?.reason)
  if (signal?.aborted) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(
    () => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')),
    Math.max(0, timeoutMs),
  )
  try {
    return await fn(controller.signal)
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
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
      const outcome = await withTimeout(options.timeoutMs ?? 30_000, options.signal, async (signal) => {
        const response = await oauth.discoveryRequest(url, {
          algorithm: options.algorithm ?? 'oidc',
          signal,
          ...(options.fetch ? { [oauth.customFetch]: options.fetch as never } : {}),
          ...(insecureAllowed(issuer, options.allowInsecure) ? { [oauth.allowInsecureRequests]: true } : {}),
        })
        if (response.status >= 500 && attempt < retries) return response.status
        if (!response.ok) {
          const excerpt = await bodyExcerpt(response, [])
          throw new KeyfobError(
            'ERR_DISCOVERY',
            `${where} answered ${response.status}${response.status === 404 ? ' (no metadata document there: check the issuer URL)' : ''}`,
            { cause: { status: response.status, url: response.url || undefined, ...excerpt } },
          )
        }
        return oauth.processDiscoveryResponse(url, response)
      })
      if (typeof outcome === 'number') {
        last = new KeyfobError('ERR_DISCOVERY', `${where} answered ${outcome}`, {
          cause: { status: outcome },
        })
        continue
      }
      return outcome
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

const AUTH_METHODS: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post', 'none'])

/**
 * How a client authenticates at the token, device-authorization and revocation endpoints: its
 * configured `tokenEndpointAuthMethod`, else, for a client with a secret, `client_secret_basic`
 * unless the provider's `token_endpoint_auth_methods_supported` lists `client_secret_post` and not
 * Basic (RFC 8414 §2: an absent list means `client_secret_basic`), and `none` for a client
 * without a secret.
 *
 * @param as - The provider's metadata.
 * @param client - The client.
 * @returns The method.
 * @throws KeyfobError `ERR_INVALID_CONFIG` for an unknown method, or a secret-based method without a secret.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 * @example
 * ```ts
 * clientAuthMethod({ issuer: 'https://idp.example', token_endpoint_auth_methods_supported: ['client_secret_post'] },
 *   { clientId: 'svc', clientSecret: 's3cret' }) // 'client_secret_post'
 * ```
 */
export function clientAuthMethod(
  as: oauth.AuthorizationServer,
  client: ClientEntry,
): TokenEndpointAuthMethod {
  const configured = client.tokenEndpointAuthMethod
  if (configured !== undefined) {
    if (!AUTH_METHODS.has(configured as string)) {
      throw new KeyfobError(
        'ERR_INVALID_CONFIG',
        `client ${client.clientId}: tokenEndpointAuthMethod ${JSON.stringify(configured)} is not one of ${[...AUTH_METHODS].join(', ')}`,
        { cause: { field: 'tokenEndpointAuthMethod', value: configured } },
      )
    }
    if (configured !== 'none' && client.clientSecret === undefined) {
      throw new KeyfobError(
        'ERR_INVALID_CONFIG',
        `client ${client.clientId} authenticates with ${configured} but has no client secret; add the secret or use "none"`,
        { cause: { field: 'clientSecret', method: configured } },
      )
    }
    return configured
  }
  if (client.clientSecret === undefined) return 'none'
  const supported = as.token_endpoint_auth_methods_supported
  if (supported && !supported.includes('client_secret_basic') && supported.includes('client_secret_post'))
    return 'client_secret_post'
  return 'client_secret_basic'
}

/**
 * One credential for HTTP Basic as RFC 6749 §2.3.1 asks: the `application/x-www-form-urlencoded`
 * serialization (the WHATWG URL standard's, as `URLSearchParams` does it). Letters, digits and
 * `*-._` stay as they are, so ordinary ids such as `kf-svc` go out exactly as curl, requests and
 * authlib send them, and a server that does not percent-decode still reads them; `:`, `%`, `+`,
 * spaces and non-ASCII characters are encoded as the RFC demands.
 */
function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1)
}

function basicAuth(secret: string): oauth.ClientAuth {
  return (_as, client, _body, headers) => {
    headers.set('authorization', `Basic ${btoa(`${formEncode(client.client_id)}:${formEncode(secret)}`)}`)
  }
}

function authOf(ctx: HttpContext): oauth.ClientAuth {
  const method = clientAuthMethod(ctx.as, ctx.client)
  const secret = ctx.client.clientSecret as string
  switch (method) {
    case 'client_secret_basic':
      return basicAuth(secret)
    case 'client_secret_post':
      return oauth.ClientSecretPost(secret)
    case 'none':
      return oauth.None()
  }
}

/** The request options of one attempt, with the signal that bounds it. */
function optionsOf(ctx: HttpContext, signal: AbortSignal): oauth.TokenEndpointRequestOptions {
  return {
    signal,
    ...(ctx.fetch ? { [oauth.customFetch]: ctx.fetch as never } : {}),
    ...(insecureAllowed(ctx.as.issuer, ctx.allowInsecure) ? { [oauth.allowInsecureRequests]: true } : {}),
  }
}

/**
 * Runs a request that carries a DPoP proof, and once more when the server answers
 * `use_dpop_nonce` (RFC 9449 §8): the handle took the nonce from that answer, so the second proof
 * carries it. Exactly one retry: a server that asks again is answered with its error.
 */
async function withDPoPNonce<T>(ctx: HttpContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (ctx.dpop === undefined || !oauth.isDPoPNonceError(error)) throw error
    return fn()
  }
}

/** RFC 8707 `resource` parameters, one each, added to `params`. */
function withResource(params: URLSearchParams, resource: readonly string[] | undefined): URLSearchParams {
  for (const r of resource ?? []) params.append('resource', r)
  return params
}

/** Network failure details from the `cause` chain of a failed `fetch` (Node/undici, Deno, Bun). */
function networkCause(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Object && depth < 4; depth++) {
    const { code, address, port, hostname } = e as {
      code?: unknown
      address?: unknown
      port?: unknown
      hostname?: unknown
    }
    if (typeof code === 'string' && code.length > 0) {
      const where =
        typeof address === 'string'
          ? ` ${address}${typeof port === 'number' ? `:${port}` : ''}`
          : typeof hostname === 'string'
            ? ` ${hostname}`
            : ''
      const kind = /ENOTFOUND|EAI_AGAIN/.test(code)
        ? ' (the name did not resolve)'
        : /CERT|SSL|TLS|SELF_SIGNED/i.test(code)
          ? ' (TLS failed)'
          : /ECONNREFUSED|ConnectionRefused/.test(code)
            ? ' (nothing listens there)'
            : ''
      return `${code}${where}${kind}`
    }
    e = (e as { cause?: unknown }).cause
  }
  // No code anywhere: the first message that says more than "fetch failed" (undici's "bad port",
  // Deno's and Bun's causes, which they put in the message only).
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (e.message && e.message !== 'fetch failed') return e.message
    e = e.cause
  }
  return undefined
}

/** Turns anything thrown while talking to the provider into a {@link Failure} (no secret in it). */
export function toFailure(error: unknown, where: string, signal?: AbortSignal): Failure {
  if (error instanceof KeyfobError)
    return {
      code: error.code,
      message: error.message,
      ...(error.cause instanceof Object ? { evidence: error.cause as Record<string, unknown> } : {}),
    }
  if (signal?.aborted) return { code: 'ERR_ABORTED', message: `${where} was cancelled` }
  const name = (error as { name?: string } | undefined)?.name
  if (name === 'TimeoutError' || name === 'AbortError')
    return {
      code: 'ERR_TIMEOUT',
      message: `${where} timed out${error instanceof Error && error.message ? ` (${error.message})` : ''}`,
    }
  if (error instanceof oauth.OperationProcessingError) {
    const evidence = { oauth4webapi: error.code, ...statusOf(error.cause) }
    if (error.code === oauth.JSON_ATTRIBUTE_COMPARISON && /issuer/i.test(error.message)) {
      const cause = error.cause as { expected?: unknown; body?: { issuer?: unknown } } | undefined
      return {
        code: 'ERR_ISSUER_MISMATCH',
        message: `${where}: the document says its issuer is ${JSON.stringify(cause?.body?.issuer)}, but ${JSON.stringify(cause?.expected)} was asked for; configure the issuer exactly as the provider names itself`,
        evidence: { ...evidence, expected: cause?.expected, actual: cause?.body?.issuer },
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
  if (error instanceof TypeError) {
    const cause = networkCause(error)
    return {
      code: 'ERR_NETWORK',
      message: `${where} failed${cause ? `: ${cause}` : ''}; check the address and your network`,
      ...(cause ? { evidence: { cause } } : {}),
    }
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

/** The longest body excerpt kept as evidence. */
const EXCERPT_CHARS = 200

/**
 * A short excerpt of an error body, safe to show: markup stripped, whitespace collapsed, every
 * secret of the request and anything shaped like a token replaced, cut to 200 characters.
 */
async function bodyExcerpt(
  response: Response,
  secrets: readonly (string | undefined)[],
): Promise<{ body?: string }> {
  let text: string
  try {
    text = response.bodyUsed ? '' : await response.clone().text()
  } catch {
    return {}
  }
  text = text.replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ')
  for (const secret of secrets) if (secret) text = text.split(secret).join('<redacted>')
  const excerpt = text
    .replace(/[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*/g, '<redacted>')
    .replace(/[A-Za-z0-9+/_=-]{32,}/g, '<redacted>')
    .replace(/\s+/g, ' ')
    .trim()
  if (excerpt === '') return {}
  return { body: excerpt.length > EXCERPT_CHARS ? `${excerpt.slice(0, EXCERPT_CHARS)}…` : excerpt }
}

/** The secrets a request may carry, so that no excerpt of its answer can echo one. */
function secretsOf(ctx: HttpContext, effect?: Effect, token?: string): Array<string | undefined> {
  const request = effect?.type === 'token-request' ? effect.request : undefined
  const secret = ctx.client.clientSecret
  return [
    secret,
    // The Basic credential, as an error page may echo the request's headers.
    secret === undefined ? undefined : btoa(`${formEncode(ctx.client.clientId)}:${formEncode(secret)}`),
    token,
    request?.grant === 'refresh_token' ? request.refreshToken : undefined,
    request?.grant === 'password' ? request.password : undefined,
    request?.grant === 'device_code' ? request.deviceCode : undefined,
    request?.grant === 'authorization_code' ? request.callback.code : undefined,
  ]
}

/**
 * A failure for an answer that is not an OAuth error response: a 5xx (the provider is failing:
 * `ERR_SERVER_ERROR`, or `ERR_TEMPORARILY_UNAVAILABLE` for 503), or a 4xx with an empty, HTML or
 * otherwise non-OAuth body (`ERR_HTTP_STATUS`). The evidence carries the status, content type and
 * a redacted body excerpt.
 */
async function statusFailure(
  response: Response,
  where: string,
  secrets: Array<string | undefined>,
): Promise<Failure> {
  let oauthCode: string | undefined
  let description: string | undefined
  try {
    const body = (await response.clone().json()) as { error?: unknown; error_description?: unknown }
    if (typeof body.error === 'string') oauthCode = body.error
    if (typeof body.error_description === 'string') description = body.error_description
  } catch {}
  const contentType = response.headers.get('content-type') ?? undefined
  const evidence: {
    status: number
    contentType?: string
    error?: string
    errorDescription?: string
    body?: string
  } = {
    status: response.status,
    ...(contentType ? { contentType } : {}),
    ...(oauthCode
      ? { error: oauthCode, ...(description !== undefined ? { errorDescription: description } : {}) }
      : await bodyExcerpt(response, secrets)),
  }
  if (response.status >= 500) {
    const code =
      response.status === 503 || oauthCode === 'temporarily_unavailable'
        ? 'ERR_TEMPORARILY_UNAVAILABLE'
        : 'ERR_SERVER_ERROR'
    return {
      code,
      message: `${where} answered ${response.status}${oauthCode ? ` (${oauthCode})` : ''}: the provider is failing; try again later`,
      evidence,
    }
  }
  const what = evidence.body === undefined ? 'an empty body' : `a ${contentType ?? 'untyped'} body`
  const advice =
    response.status === 401
      ? ': the provider did not accept the client; check the client id, the secret and how the client authenticates (tokenEndpointAuthMethod)'
      : response.status === 403
        ? ': the provider refused the request (a firewall, a proxy or a policy in front of it may answer this)'
        : ''
  return {
    code: 'ERR_HTTP_STATUS',
    message: `${where} answered ${response.status} with ${what}, not an OAuth error response${advice}${evidence.body ? ` — ${JSON.stringify(evidence.body)}` : ''}`,
    evidence,
  }
}

/** Maps an OAuth error answer to a `token-error` event, or a fault to a `failed` event. */
async function answerOf(
  error: unknown,
  where: string,
  ctx: HttpContext,
  nowMs: number,
  secrets: Array<string | undefined>,
): Promise<Event> {
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
      body = (await error.response.clone().json()) as typeof body
    } catch {}
    if (typeof body.error !== 'string' && error.status >= 500)
      return { type: 'failed', failure: await statusFailure(error.response, where, secrets), nowMs }
    const fromChallenge = error.cause[0]?.parameters.error
    const code =
      typeof body.error === 'string'
        ? body.error
        : (fromChallenge ?? (error.status === 401 ? 'invalid_client' : 'invalid_request'))
    const description =
      typeof body.error_description === 'string'
        ? body.error_description
        : typeof body.error !== 'string'
          ? `${error.status} with a ${error.cause[0]?.scheme ?? ''} challenge and no OAuth error body`
          : undefined
    return {
      type: 'token-error',
      error: code,
      ...(description !== undefined ? { description } : {}),
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
    error.cause.status >= 400
  ) {
    return { type: 'failed', failure: await statusFailure(error.cause, where, secrets), nowMs }
  }
  return { type: 'failed', failure: toFailure(error, where, ctx.signal), nowMs }
}

/** The error to throw for an answer that {@link answerOf} turned into a `token-error` or `failed` event. */
function errorOf(event: Event, where: string): KeyfobError {
  if (event.type === 'token-error')
    return oauthError(
      {
        error: event.error,
        ...(event.description !== undefined ? { errorDescription: event.description } : {}),
        ...(event.status !== undefined ? { status: event.status } : {}),
      },
      where,
    )
  const failure = (event as Extract<Event, { type: 'failed' }>).failure
  return new KeyfobError(failure.code, failure.message, failure.evidence ? { cause: failure.evidence } : {})
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

/** Sends one token-endpoint request and processes its answer (the signal bounds both). */
async function tokenRequest(
  request: TokenRequest,
  ctx: HttpContext,
  client: oauth.Client,
  auth: oauth.ClientAuth,
  base: oauth.TokenEndpointRequestOptions,
): Promise<oauth.TokenEndpointResponse> {
  const options = { ...base, ...(ctx.dpop ? { DPoP: ctx.dpop } : {}) }
  const resource = request.resource
  switch (request.grant) {
    case 'device_code':
      return oauth.processDeviceCodeResponse(
        ctx.as,
        client,
        await oauth.deviceCodeGrantRequest(ctx.as, client, auth, request.deviceCode, {
          ...options,
          additionalParameters: withResource(
            new URLSearchParams(
              request.codeVerifier !== undefined ? { code_verifier: request.codeVerifier } : {},
            ),
            resource,
          ),
        }),
      )
    case 'refresh_token':
      return oauth.processRefreshTokenResponse(
        ctx.as,
        client,
        await oauth.refreshTokenGrantRequest(ctx.as, client, auth, request.refreshToken, {
          ...options,
          additionalParameters: withResource(
            new URLSearchParams(request.scope !== undefined ? { scope: request.scope } : {}),
            resource,
          ),
        }),
      )
    case 'client_credentials':
      return oauth.processClientCredentialsResponse(
        ctx.as,
        client,
        await oauth.clientCredentialsGrantRequest(
          ctx.as,
          client,
          auth,
          withResource(new URLSearchParams(request.scope ? { scope: request.scope } : {}), resource),
          options,
        ),
      )
    case 'password':
      return oauth.processGenericTokenEndpointResponse(
        ctx.as,
        client,
        await oauth.genericTokenEndpointRequest(
          ctx.as,
          client,
          auth,
          'password',
          withResource(
            new URLSearchParams({
              username: request.username,
              password: request.password,
              ...(request.scope ? { scope: request.scope } : {}),
            }),
            resource,
          ),
          options,
        ),
      )
    case 'authorization_code': {
      const callback = oauth.validateAuthResponse(
        ctx.as,
        client,
        new URLSearchParams(request.callback),
        request.expectedState,
      )
      return oauth.processAuthorizationCodeResponse(
        ctx.as,
        client,
        await oauth.authorizationCodeGrantRequest(
          ctx.as,
          client,
          auth,
          callback,
          request.redirectUri,
          request.codeVerifier,
          { ...options, additionalParameters: withResource(new URLSearchParams(), resource) },
        ),
        { expectedNonce: request.expectedNonce, requireIdToken: ctx.as.userinfo_endpoint !== undefined },
      )
    }
  }
}

/**
 * Runs one HTTP effect (`device-authorization-request`, `pushed-authorization-request` (RFC 9126)
 * or `token-request`) and returns the event to feed back into the machine. Other effects (sleep,
 * display, open-browser) belong to the driver and are refused. With `ctx.dpop`, token and pushed
 * requests carry a DPoP proof, a `use_dpop_nonce` answer is retried once with the server's nonce,
 * and a token response whose `token_type` is not `DPoP` becomes a `failed` event
 * (`ERR_DPOP_NOT_BOUND`). The request (its body included) is bounded by `ctx.timeoutMs`, and
 * further by the effect's `deadlineMs` when it has one: a request that cannot start before the
 * deadline fails at once with `ERR_TIMEOUT`.
 *
 * @param effect - The effect.
 * @param ctx - Metadata, client, fetch, clock, timeout, signal.
 * @returns The event: a response, an OAuth error as `token-error` (e.g. `invalid_target` for a refused resource indicator, `use_dpop_nonce` when the server asks again after the retry), or a fault as `failed` (`ERR_HTTP_STATUS` for a non-OAuth error answer, with its status and a redacted body excerpt; `ERR_DPOP_NOT_BOUND`; `ERR_UNSUPPORTED` for a push to a provider without a PAR endpoint).
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for an effect that is not an HTTP request.
 * @example
 * ```ts
 * let step = deviceTransition(deviceFlow({ scope: 'openid' }), { type: 'start', nowMs: Date.now() })
 * const event = await runHttpEffect(step.effects[0], { as, client: { clientId: 'cli' } })
 * ```
 */
export async function runHttpEffect(effect: Effect, ctx: HttpContext): Promise<Event> {
  if (
    effect.type !== 'token-request' &&
    effect.type !== 'device-authorization-request' &&
    effect.type !== 'pushed-authorization-request'
  ) {
    throw new KeyfobError('ERR_INVALID_ARGUMENT', `runHttpEffect runs HTTP effects only, not ${effect.type}`)
  }
  const now = ctx.now ?? Date.now
  const where =
    effect.type === 'device-authorization-request'
      ? `the device authorization request to ${ctx.as.device_authorization_endpoint ?? ctx.as.issuer}`
      : effect.type === 'pushed-authorization-request'
        ? `the pushed authorization request to ${ctx.as.pushed_authorization_request_endpoint ?? ctx.as.issuer}`
        : `the ${effect.request.grant} token request to ${ctx.as.token_endpoint ?? ctx.as.issuer}`
  const deadlineMs = effect.type === 'pushed-authorization-request' ? undefined : effect.deadlineMs
  const timeoutMs = Math.min(
    ctx.timeoutMs ?? 30_000,
    deadlineMs === undefined ? Number.POSITIVE_INFINITY : deadlineMs - now(),
  )
  if (timeoutMs <= 0) {
    return {
      type: 'failed',
      failure: { code: 'ERR_TIMEOUT', message: `${where} was not sent: the flow's deadline has passed` },
      nowMs: now(),
    }
  }
  try {
    const client = clientOf(ctx)
    const auth = authOf(ctx)
    /** RFC 9126: pushes the URL's parameters; answers the short URL that refers to them. */
    const pushed = async (url: string): Promise<string> => {
      if (ctx.as.authorization_endpoint === undefined)
        throw new KeyfobError('ERR_DISCOVERY', `provider ${ctx.as.issuer} has no authorization_endpoint`)
      const params = new URL(url).searchParams
      const response = await withTimeout(timeoutMs, ctx.signal, (signal) =>
        withDPoPNonce(ctx, async () =>
          oauth.processPushedAuthorizationResponse(
            ctx.as,
            client,
            await oauth.pushedAuthorizationRequest(ctx.as, client, auth, params, {
              ...optionsOf(ctx, signal),
              ...(ctx.dpop ? { DPoP: ctx.dpop } : {}),
            }),
          ),
        ),
      )
      const short = new URL(ctx.as.authorization_endpoint)
      short.searchParams.set('client_id', ctx.client.clientId)
      short.searchParams.set('request_uri', response.request_uri)
      return short.href
    }
    if (effect.type === 'pushed-authorization-request') {
      if (ctx.as.pushed_authorization_request_endpoint === undefined)
        return {
          type: 'failed',
          failure: {
            code: 'ERR_UNSUPPORTED',
            message: `${ctx.as.issuer} advertises no pushed_authorization_request_endpoint; set the provider's par setting to "auto" or false`,
          },
          nowMs: now(),
        }
      return { type: 'pushed-authorization', authorizationUrl: await pushed(effect.url), nowMs: now() }
    }
    return await withTimeout(timeoutMs, ctx.signal, async (signal): Promise<Event> => {
      const options = optionsOf(ctx, signal)
      if (effect.type === 'token-request') {
        const response = await withDPoPNonce(ctx, () =>
          tokenRequest(effect.request, ctx, client, auth, options),
        )
        if (ctx.dpop !== undefined && response.token_type.toLowerCase() !== 'dpop') {
          return {
            type: 'failed',
            failure: {
              code: 'ERR_DPOP_NOT_BOUND',
              message: `${where} sent a DPoP proof, but the provider answered token_type ${JSON.stringify(response.token_type)}: it did not bind the token to the key; check its DPoP support, or turn the provider's dpop setting off`,
              evidence: { tokenType: response.token_type },
            },
            nowMs: now(),
          }
        }
        return { type: 'token-response', response: plainTokens(response), nowMs: now() }
      }
      const params = withResource(new URLSearchParams(effect.parameters), effect.resource)
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
    })
  } catch (error) {
    return answerOf(error, where, ctx, now(), secretsOf(ctx, effect))
  }
}

/**
 * Revokes one token at the provider (RFC 7009) through oauth4webapi. Revoking a refresh token
 * ends its grant on most providers.
 *
 * @param ctx - Provider metadata, client, fetch, timeout.
 * @param token - The token to revoke; it never appears in an error.
 * @param hint - `refresh_token` or `access_token`.
 * @throws KeyfobError `ERR_UNSUPPORTED` when the provider advertises no revocation endpoint; an OAuth code (`ERR_INVALID_CLIENT`, …) for an error answer; `ERR_HTTP_STATUS` for a non-OAuth error answer (status and a redacted excerpt in `cause`); `ERR_SERVER_ERROR`, `ERR_TEMPORARILY_UNAVAILABLE`, `ERR_NETWORK`, `ERR_TIMEOUT`, `ERR_INVALID_RESPONSE`.
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
  let event: Event | undefined
  try {
    const client = clientOf(ctx)
    const auth = authOf(ctx)
    await withTimeout(ctx.timeoutMs ?? 30_000, ctx.signal, async (signal) => {
      const response = await oauth.revocationRequest(ctx.as, client, auth, token, {
        ...optionsOf(ctx, signal),
        additionalParameters: { token_type_hint: hint },
      })
      await oauth.processRevocationResponse(response)
    })
    return
  } catch (error) {
    event = await answerOf(error, where, ctx, (ctx.now ?? Date.now)(), secretsOf(ctx, undefined, token))
  }
  throw errorOf(event, where)
}

/** What {@link checkToken} found out about an access token. */
export interface TokenCheck {
  /** Whether the provider accepts the token right now. */
  readonly active: boolean
  /** How it was checked: the userinfo endpoint, or token introspection (RFC 7662). */
  readonly via: 'userinfo' | 'introspection'
  /** The user (or client) the token stands for, when the provider said. */
  readonly subject?: string
}

/**
 * Asks the provider whether it still accepts an access token: at its userinfo endpoint (OpenID
 * Connect Core §5.3), else by introspection (RFC 7662, which needs client credentials). A token
 * the provider refuses is `active: false`; a provider that cannot answer is an error.
 *
 * @param ctx - Provider metadata, client, fetch, timeout, signal.
 * @param accessToken - The token to check; it never appears in an error.
 * @returns Whether it is active, how that was found, and the subject.
 * @throws KeyfobError `ERR_UNSUPPORTED` (neither endpoint is usable), `ERR_NETWORK`, `ERR_TIMEOUT`, `ERR_SERVER_ERROR`, `ERR_HTTP_STATUS`, `ERR_INVALID_RESPONSE`, or an OAuth code.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
 * @example
 * ```ts
 * const { active } = await checkToken({ as, client }, record.accessToken)
 * ```
 */
export async function checkToken(ctx: HttpContext, accessToken: string): Promise<TokenCheck> {
  const introspect =
    ctx.as.introspection_endpoint !== undefined && clientAuthMethod(ctx.as, ctx.client) !== 'none'
  if (ctx.as.userinfo_endpoint === undefined && !introspect)
    throw new KeyfobError(
      'ERR_UNSUPPORTED',
      `${ctx.as.issuer} offers no userinfo endpoint${ctx.as.introspection_endpoint ? ', and introspection needs a client secret' : ' and no introspection'}: the token cannot be checked online`,
    )
  const via = ctx.as.userinfo_endpoint !== undefined ? 'userinfo' : 'introspection'
  const where = `the ${via} request to ${via === 'userinfo' ? ctx.as.userinfo_endpoint : ctx.as.introspection_endpoint}`
  const client = clientOf(ctx)
  try {
    return await withTimeout(ctx.timeoutMs ?? 30_000, ctx.signal, async (signal): Promise<TokenCheck> => {
      const options = optionsOf(ctx, signal)
      if (via === 'userinfo') {
        const info = await withDPoPNonce(ctx, async () =>
          oauth.processUserInfoResponse(
            ctx.as,
            client,
            oauth.skipSubjectCheck,
            await oauth.userInfoRequest(ctx.as, client, accessToken, {
              signal,
              ...(ctx.dpop ? { DPoP: ctx.dpop } : {}),
              ...(ctx.fetch ? { [oauth.customFetch]: ctx.fetch as never } : {}),
              ...(insecureAllowed(ctx.as.issuer, ctx.allowInsecure)
                ? { [oauth.allowInsecureRequests]: true }
                : {}),
            }),
          ),
        )
        return { active: true, via, subject: info.sub }
      }
      const result = await oauth.processIntrospectionResponse(
        ctx.as,
        client,
        await oauth.introspectionRequest(ctx.as, client, authOf(ctx), accessToken, options),
      )
      return {
        active: result.active === true,
        via,
        ...(result.active && typeof result.sub === 'string' ? { subject: result.sub } : {}),
      }
    })
  } catch (error) {
    if (via === 'userinfo' && error instanceof oauth.WWWAuthenticateChallengeError && error.status === 401)
      return { active: false, via }
    const event = await answerOf(
      error,
      where,
      ctx,
      (ctx.now ?? Date.now)(),
      secretsOf(ctx, undefined, accessToken),
    )
    throw errorOf(event, where)
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
 * @param input - Client id, redirect URI, scope, extra authorization parameters, resource indicators, DPoP key thumbprint.
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
    /**
     * Extra authorization parameters (openEO's `authorization_parameters`). They never override
     * `response_type`, `client_id`, `redirect_uri`, `scope`, `state`, `nonce` or the PKCE pair.
     */
    readonly extra?: Readonly<Record<string, string>>
    /** RFC 8707 resource indicators, one `resource` parameter each. */
    readonly resource?: readonly string[]
    /**
     * RFC 9449 §10: the JWK thumbprint of the login's DPoP key (`DPoPHandle.calculateThumbprint`),
     * sent as `dpop_jkt` to bind the code to the key. A pushed request needs none: its proof binds it.
     */
    readonly dpopJkt?: string
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
  // Extra parameters first, protocol parameters last: an advertised or configured extra can add
  // to the request but never replace what the protocol's security rests on.
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
  if (input.dpopJkt !== undefined) url.searchParams.set('dpop_jkt', input.dpopJkt)
  for (const r of input.resource ?? []) url.searchParams.append('resource', r)
  return { authorizationUrl: url.href, redirectUri: input.redirectUri, codeVerifier, state, nonce }
}
