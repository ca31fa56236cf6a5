/** The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2) and its login form. @module */

import { authenticatedForm } from './client-auth.ts'
import { nonceRequired, readDpopProof } from './dpop.ts'
import { loginPage } from './html.ts'
import { type LogDraft, redactParams } from './journal.ts'
import { readChallenge } from './pkce.ts'
import type { Provider } from './provider.ts'
import { grantsOf, isConfidential } from './settings.ts'
import type { MockClient, MockUser } from './types.ts'
import { parseScope, randomToken, timingSafeEqual } from './util.ts'
import { allValues, fail, json, OAuthFailure, parseParams, readForm, required, truncate } from './wire.ts'

/** The prefix of the `request_uri` values the PAR endpoint hands out (RFC 9126 §2.2). */
const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:'

/** A JWK SHA-256 thumbprint, base64url (RFC 7638, RFC 9449 §10). */
const JKT = /^[A-Za-z0-9_-]{43}$/

const PENDING_LOGIN_MS = 10 * 60 * 1000

/**
 * Whether `requested` matches a registered redirect URI (RFC 6749 §3.1.2): exactly, or for an
 * `http` loopback IP literal with any port (RFC 8252 §7.3), or for `http://localhost` with any port
 * when `localhostAnyPort` (what mainstream providers do; RFC 8252 §8.3 calls `localhost` NOT
 * RECOMMENDED). @internal
 */
export function redirectUriMatches(
  registered: readonly string[],
  requested: string,
  localhostAnyPort = false,
): boolean {
  if (registered.includes(requested)) return true
  let url: URL
  try {
    url = new URL(requested)
  } catch {
    return false
  }
  const loopback =
    url.hostname === '127.0.0.1' ||
    url.hostname === '[::1]' ||
    (localhostAnyPort && url.hostname === 'localhost')
  if (url.protocol !== 'http:' || !loopback) return false
  return registered.some((r) => {
    try {
      const reg = new URL(r)
      return (
        reg.protocol === 'http:' &&
        reg.hostname === url.hostname &&
        reg.pathname === url.pathname &&
        reg.search === url.search
      )
    } catch {
      return false
    }
  })
}

/** Whether a client's `http://localhost` redirect URIs match any port. @internal */
export function localhostAnyPort(p: Provider, client: MockClient): boolean {
  return client.localhostAnyPort ?? p.settings.localhostAnyPort
}

/** GET or POST /authorize. @internal */
export async function authorize(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  let params: ReadonlyMap<string, string> =
    request.method === 'POST' ? await readForm(request) : parseParams(new URL(request.url).searchParams)
  log.params = redactParams(params)
  // Until client and redirect URI are known good, errors are answered here, never redirected.
  const clientId = required(params, 'client_id')
  log.clientId = clientId
  const client = p.clients.get(clientId)
  if (!client) throw fail('invalid_request', `unknown client "${truncate(clientId)}"`)
  const requestUri = params.get('request_uri')
  if (requestUri !== undefined) {
    params = takePushedRequest(p, client, requestUri)
    log.params = { ...redactParams(params), request_uri: requestUri }
  }
  const redirectUri = required(params, 'redirect_uri')
  if (!redirectUriMatches(client.redirectUris ?? [], redirectUri, localhostAnyPort(p, client))) {
    const hint =
      /^http:\/\/localhost:/.test(redirectUri) && !localhostAnyPort(p, client)
        ? " (localhost with any port is refused because strict.localhostRedirects or the client's localhostAnyPort: false says so)"
        : ''
    throw fail(
      'invalid_request',
      `redirect_uri "${truncate(redirectUri, 200)}" is not registered for client ${client.clientId}${hint}`,
    )
  }
  try {
    if (requestUri === undefined && parRequired(p, client)) {
      throw new AuthorizationError(
        'invalid_request',
        `client ${client.clientId} must push its authorization requests to ${p.url('/par')} and send the request_uri (require_pushed_authorization_requests, RFC 9126 §5)`,
      )
    }
    const checked = checkAuthorizationRequest(p, client, params)
    const prompt = new Set(parseScope(params.get('prompt')))
    const showForm = prompt.has('login') || (p.settings.login === 'form' && !params.has('login_hint'))
    if (prompt.has('none') && (showForm || prompt.size > 1)) {
      throw new AuthorizationError('login_required', 'prompt=none, but this request needs the login page')
    }
    if (showForm) {
      const requestId = randomToken(16)
      p.state.pendingLogins.set(requestId, { params, client, expMs: p.clock.now() + PENDING_LOGIN_MS })
      return loginPage(p.url('/login'), requestId, client.clientName ?? client.clientId, redirectUri)
    }
    let user: MockUser
    const hint = params.get('login_hint')
    if (hint !== undefined) {
      const found = p.userByLogin(hint)
      if (!found)
        throw new AuthorizationError('access_denied', `login_hint "${truncate(hint)}" names no user`)
      user = found
    } else {
      try {
        user = p.defaultLoginUser()
      } catch {
        throw new AuthorizationError('access_denied', 'the mock IdP has no user to log in')
      }
    }
    return issueCode(p, client, params, checked, user)
  } catch (error) {
    if (error instanceof AuthorizationError || error instanceof OAuthFailure) {
      const code = error instanceof AuthorizationError ? error.error : error.error
      const description = error instanceof AuthorizationError ? error.description : error.description
      log.error = code
      return redirectWith(p, redirectUri, params.get('state'), {
        error: code,
        error_description: description,
      })
    }
    throw error
  }
}

/** POST /login: the login form of a pending authorization request. @internal */
export async function login(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  const form = await readForm(request)
  log.params = redactParams(form)
  const requestId = required(form, 'request_id')
  const pending = p.state.pendingLogins.get(requestId)
  if (!pending || pending.expMs <= p.clock.now()) {
    p.state.pendingLogins.delete(requestId)
    throw fail(
      'invalid_request',
      'this login request is unknown or has expired; start the authorization again',
    )
  }
  const { params, client } = pending
  log.clientId = client.clientId
  const redirectUri = params.get('redirect_uri') ?? ''
  if (form.get('action') === 'cancel') {
    p.state.pendingLogins.delete(requestId)
    log.error = 'access_denied'
    return redirectWith(p, redirectUri, params.get('state'), {
      error: 'access_denied',
      error_description: 'the user cancelled the login',
    })
  }
  const user = p.userByLogin(form.get('username') ?? '')
  const password = form.get('password') ?? ''
  if (!user || user.password === undefined || !timingSafeEqual(password, user.password)) {
    log.error = 'access_denied'
    return loginPage(
      p.url('/login'),
      requestId,
      client.clientName ?? client.clientId,
      params.get('redirect_uri') ?? '',
      'Wrong username or password.',
    )
  }
  p.state.pendingLogins.delete(requestId)
  return issueCode(p, client, params, checkAuthorizationRequest(p, client, params), user)
}

/** Whether a client must use PAR: its own setting, else the IdP's. @internal */
export function parRequired(p: Provider, client: MockClient): boolean {
  return client.requirePushedAuthorizationRequests ?? p.settings.requirePar
}

/**
 * The pushed parameters a `request_uri` stands for, used up (RFC 9126 §4: single use, bound to
 * the client that pushed it, short-lived on the IdP clock).
 */
function takePushedRequest(p: Provider, client: MockClient, requestUri: string): ReadonlyMap<string, string> {
  if (!requestUri.startsWith(REQUEST_URI_PREFIX)) {
    throw fail(
      'invalid_request_uri',
      `request_uri "${truncate(requestUri, 100)}" was not issued by this IdP's PAR endpoint (${p.url('/par')}); only pushed requests are supported`,
    )
  }
  const pushed = p.state.requestUris.get(requestUri)
  if (!pushed || pushed.clientId !== client.clientId) {
    throw fail(
      'invalid_request_uri',
      `request_uri is unknown, already used, or was pushed by another client than ${client.clientId}; push the request again`,
    )
  }
  p.state.requestUris.delete(requestUri)
  if (pushed.expMs <= p.clock.now()) {
    throw fail(
      'invalid_request_uri',
      `request_uri has expired (it lives ${p.settings.requestUriS} s, lifetimes.requestUriS); push the request again`,
    )
  }
  return pushed.params
}

/** POST /par: a pushed authorization request (RFC 9126 §2). @internal */
export async function pushedAuthorization(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  const { params, client } = await authenticatedForm(p, request, log, '/par')
  if (params.has('request_uri')) {
    throw fail('invalid_request', 'a pushed authorization request must not carry request_uri (RFC 9126 §2.1)')
  }
  const bodyId = params.get('client_id')
  if (bodyId !== undefined && bodyId !== client.clientId) {
    throw fail(
      'invalid_request',
      `client_id "${truncate(bodyId)}" differs from the authenticated client ${client.clientId}`,
    )
  }
  params.set('client_id', client.clientId)
  const redirectUri = required(params, 'redirect_uri')
  if (!redirectUriMatches(client.redirectUris ?? [], redirectUri, localhostAnyPort(p, client))) {
    throw fail(
      'invalid_request',
      `redirect_uri "${truncate(redirectUri, 200)}" is not registered for client ${client.clientId}`,
    )
  }
  const nonce = nonceRequired(p, client)
  const proof = await readDpopProof(p, request, log, {
    htm: 'POST',
    htu: p.url('/par'),
    nonceRequired: nonce,
  })
  if (proof) {
    const given = params.get('dpop_jkt')
    if (given !== undefined && given !== proof.jkt) {
      throw fail(
        'invalid_request',
        "dpop_jkt differs from the thumbprint of the DPoP proof's key (RFC 9449 §10.1); send one of them, or both for the same key",
      )
    }
    params.set('dpop_jkt', proof.jkt)
  }
  try {
    checkAuthorizationRequest(p, client, params)
  } catch (error) {
    if (error instanceof AuthorizationError) throw fail(error.error, error.description)
    throw error
  }
  const requestUri = `${REQUEST_URI_PREFIX}${randomToken(24)}`
  p.state.requestUris.set(requestUri, {
    clientId: client.clientId,
    params,
    expMs: p.clock.now() + p.settings.requestUriS * 1000,
  })
  return json(
    { request_uri: requestUri, expires_in: p.settings.requestUriS },
    201,
    proof && nonce ? { 'dpop-nonce': p.dpopNonces.current() } : {},
  )
}

interface CheckedRequest {
  readonly scope: readonly string[]
  readonly requestedScope: readonly string[]
  readonly codeChallenge: string | undefined
  readonly method: 'S256' | 'plain' | undefined
  readonly dpopJkt: string | undefined
  readonly resources: readonly string[]
}

class AuthorizationError extends Error {
  readonly error: string
  readonly description: string
  constructor(error: string, description: string) {
    super(description)
    this.error = error
    this.description = description
  }
}

function checkAuthorizationRequest(
  p: Provider,
  client: MockClient,
  params: ReadonlyMap<string, string>,
): CheckedRequest {
  const responseType = params.get('response_type')
  if (responseType === undefined)
    throw new AuthorizationError('invalid_request', 'the "response_type" parameter is missing')
  if (responseType !== 'code') {
    throw new AuthorizationError(
      'unsupported_response_type',
      `response_type "${truncate(responseType)}" is not supported; use "code"`,
    )
  }
  if (!grantsOf(client).includes('authorization_code')) {
    throw new AuthorizationError(
      'unauthorized_client',
      `client ${client.clientId} may not use the authorization code grant`,
    )
  }
  const responseMode = params.get('response_mode')
  if (responseMode !== undefined && responseMode !== 'query') {
    throw new AuthorizationError(
      'invalid_request',
      `response_mode "${truncate(responseMode)}" is not supported; use "query"`,
    )
  }
  if (params.has('request')) {
    throw new AuthorizationError(
      'request_not_supported',
      'the "request" parameter (a request object) is not supported; push the parameters to the PAR endpoint instead',
    )
  }
  const dpopJkt = params.get('dpop_jkt')
  if (dpopJkt !== undefined && !JKT.test(dpopJkt)) {
    throw new AuthorizationError(
      'invalid_request',
      `dpop_jkt "${truncate(dpopJkt)}" is not a base64url SHA-256 JWK thumbprint (RFC 9449 §10)`,
    )
  }
  // Scope and PKCE failures are errors to redirect with, not JSON answers.
  try {
    const requestedScope = parseScope(params.get('scope'))
    const scope = p.grantScope(client, requestedScope)
    const pkceRequired = client.requirePkce ?? !isConfidential(client)
    const { codeChallenge, method } = readChallenge(params, client, pkceRequired)
    const resources = p.checkResources(client, allValues(params, 'resource'))
    return { scope, requestedScope, codeChallenge, method, dpopJkt, resources }
  } catch (error) {
    if (error instanceof OAuthFailure) throw new AuthorizationError(error.error, error.description)
    throw error
  }
}

function issueCode(
  p: Provider,
  client: MockClient,
  params: ReadonlyMap<string, string>,
  checked: CheckedRequest,
  user: MockUser,
): Response {
  const now = p.clock.now()
  const code = randomToken(32)
  p.state.codes.set(code, {
    clientId: client.clientId,
    redirectUri: params.get('redirect_uri') ?? '',
    sub: user.sub,
    scope: checked.scope,
    requestedScope: checked.requestedScope,
    nonce: params.get('nonce'),
    codeChallenge: checked.codeChallenge,
    codeChallengeMethod: checked.method,
    expMs: now + p.settings.authorizationCodeS * 1000,
    authTimeMs: now,
    dpopJkt: checked.dpopJkt,
    resources: checked.resources,
    used: false,
    grantId: undefined,
  })
  return redirectWith(p, params.get('redirect_uri') ?? '', params.get('state'), { code })
}

/** A 302 to the client's redirect URI with `state` and `iss` (RFC 9207) added. @internal */
export function redirectWith(
  p: Provider,
  redirectUri: string,
  state: string | undefined,
  values: Record<string, string>,
): Response {
  const target = new URL(redirectUri)
  for (const [key, value] of Object.entries(values)) target.searchParams.set(key, value)
  if (state !== undefined) target.searchParams.set('state', state)
  target.searchParams.set('iss', p.issuer)
  return new Response(null, { status: 302, headers: { location: target.href, 'cache-control': 'no-store' } })
}
