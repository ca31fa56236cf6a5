/**
 * Discovery, JWKS, userinfo (OIDC Core §5.3), introspection (RFC 7662), revocation (RFC 7009),
 * end-session (OIDC RP-Initiated Logout), the device verification page (RFC 8628 §3.3) and
 * dynamic client registration (RFC 7591). @module
 */

import { localhostAnyPort, redirectUriMatches } from './authorize.ts'
import { authenticatedForm } from './client-auth.ts'
import { DPOP_ALGS, dpopChallenge, readDpopProof } from './dpop.ts'
import { MockIdpError } from './errors.ts'
import { devicePage, page } from './html.ts'
import { findAccessToken, releasedClaims, SUPPORTED_CLAIMS, verifyOwnJwt } from './issuing.ts'
import { type LogDraft, redactParams } from './journal.ts'
import type { Provider } from './provider.ts'
import { ALL_GRANTS, checkClient, DEVICE_GRANT, isConfidential } from './settings.ts'
import type { DeviceRecord } from './state.ts'
import type { ClientAuthMethod, GrantType, MockClient } from './types.ts'
import { normalizeUserCode, randomToken, timingSafeEqual } from './util.ts'
import {
  bearerChallenge,
  fail,
  json,
  OAuthFailure,
  parseParams,
  readForm,
  readJsonObject,
  required,
  truncate,
} from './wire.ts'

const AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
  'none',
]

/** The OpenID Provider / RFC 8414 metadata document. @internal */
export function metadata(p: Provider): Record<string, unknown> {
  const plainAllowed = [...p.clients.values()].some((c) => c.allowPlainPkce)
  return {
    issuer: p.issuer,
    authorization_endpoint: p.url('/authorize'),
    token_endpoint: p.url('/token'),
    device_authorization_endpoint: p.url('/device_authorization'),
    userinfo_endpoint: p.url('/userinfo'),
    jwks_uri: p.url('/jwks'),
    introspection_endpoint: p.url('/introspect'),
    revocation_endpoint: p.url('/revoke'),
    end_session_endpoint: p.url('/end_session'),
    ...(p.settings.registration ? { registration_endpoint: p.url('/register') } : {}),
    pushed_authorization_request_endpoint: p.url('/par'),
    require_pushed_authorization_requests: p.settings.requirePar,
    scopes_supported: p.settings.scopes,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ALL_GRANTS,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [p.keys.active.alg],
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    introspection_endpoint_auth_methods_supported: AUTH_METHODS.filter((m) => m !== 'none'),
    revocation_endpoint_auth_methods_supported: AUTH_METHODS,
    code_challenge_methods_supported: plainAllowed ? ['S256', 'plain'] : ['S256'],
    claims_supported: SUPPORTED_CLAIMS,
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    authorization_response_iss_parameter_supported: true,
    prompt_values_supported: ['none', 'login'],
    dpop_signing_alg_values_supported: DPOP_ALGS,
  }
}

/**
 * Reads the access token of a resource request: the RFC 6750 §2.1 `Bearer` header or §2.2 form
 * body, or the RFC 9449 §7.1 `DPoP` header.
 */
async function presentedToken(request: Request): Promise<{ scheme: 'bearer' | 'dpop'; token: string }> {
  const header = request.headers.get('authorization')
  let fromBody: string | undefined
  if (
    request.method === 'POST' &&
    (request.headers.get('content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')
  ) {
    fromBody = (await readForm(request)).get('access_token')
  }
  if (header !== null && fromBody !== undefined) {
    throw new OAuthFailure(
      400,
      'invalid_request',
      'send the access token in one place only (RFC 6750 §2)',
      bearerChallenge('invalid_request'),
    )
  }
  if (fromBody !== undefined) return { scheme: 'bearer', token: fromBody }
  if (header === null) throw new OAuthFailure(401, 'invalid_token', 'no access token', bearerChallenge())
  const match = /^(bearer|dpop) +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)
  if (!match?.[1] || !match[2]) {
    throw new OAuthFailure(
      401,
      'invalid_token',
      'the Authorization header is neither a Bearer nor a DPoP token',
      bearerChallenge('invalid_token'),
    )
  }
  return { scheme: match[1].toLowerCase() === 'dpop' ? 'dpop' : 'bearer', token: match[2] }
}

/** A 401 `invalid_token` with the challenge of the scheme the client used. */
function invalidToken(scheme: 'bearer' | 'dpop', description: string): OAuthFailure {
  return new OAuthFailure(
    401,
    'invalid_token',
    description,
    scheme === 'dpop'
      ? { 'www-authenticate': dpopChallenge('invalid_token', description) }
      : bearerChallenge('invalid_token', description),
  )
}

/** GET/POST /userinfo. @internal */
export async function userinfo(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'POST') {
    throw new OAuthFailure(
      405,
      'invalid_request',
      `userinfo takes GET or POST, not ${truncate(request.method)}`,
      { allow: 'GET, POST' },
    )
  }
  const { scheme, token } = await presentedToken(request)
  const found = await findAccessToken(p, token)
  if (!found) throw invalidToken(scheme, 'the access token is invalid, expired or revoked')
  const { record } = found
  log.clientId = record.clientId
  // RFC 9449 §7: a DPoP-bound token is good only with a proof of its key, never as Bearer.
  if (record.jkt !== undefined && scheme !== 'dpop') {
    throw new OAuthFailure(
      401,
      'invalid_token',
      'the access token is DPoP-bound; send it as "Authorization: DPoP" with a DPoP proof',
      { 'www-authenticate': dpopChallenge('invalid_token', 'the access token is DPoP-bound') },
    )
  }
  if (scheme === 'dpop') {
    // §7.1: the DPoP scheme always comes with a proof. An unbound token is accepted with one, as
    // oidc-provider does: the proof adds nothing, but takes nothing away either.
    const proof = await readDpopProof(p, request, log, {
      htm: request.method,
      htu: p.url('/userinfo'),
      nonceRequired: false,
      accessToken: token,
      resource: true,
    })
    const description = !proof
      ? 'the DPoP scheme needs a DPoP proof'
      : record.jkt !== undefined && proof.jkt !== record.jkt
        ? "the DPoP proof's key is not the one the access token is bound to"
        : undefined
    if (description !== undefined) {
      throw new OAuthFailure(401, 'invalid_dpop_proof', description, {
        'www-authenticate': dpopChallenge('invalid_dpop_proof', description),
      })
    }
  }
  if (!record.scope.includes('openid')) {
    throw new OAuthFailure(
      403,
      'insufficient_scope',
      'userinfo needs an access token with the "openid" scope',
      scheme === 'dpop'
        ? { 'www-authenticate': dpopChallenge('insufficient_scope') }
        : bearerChallenge('insufficient_scope'),
    )
  }
  const user = p.users.get(record.sub)
  return json({ ...releasedClaims(user, record.scope), ...p.userinfoOverrides(), sub: record.sub })
}

/** POST /introspect (RFC 7662). @internal */
export async function introspect(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  const { params, method } = await authenticatedForm(p, request, log, '/introspect')
  if (method === 'none') {
    throw new OAuthFailure(
      401,
      'invalid_client',
      'introspection needs an authenticated (confidential) client',
    )
  }
  const token = required(params, 'token')
  const hint = params.get('token_type_hint')
  const inactive = json({ active: false })
  const lookups = hint === 'refresh_token' ? [refreshInfo, accessInfo] : [accessInfo, refreshInfo]
  for (const lookup of lookups) {
    const info = await lookup(p, token)
    if (info) return json(info)
  }
  return inactive
}

async function accessInfo(p: Provider, token: string): Promise<Record<string, unknown> | undefined> {
  const found = await findAccessToken(p, token)
  if (!found) return undefined
  const { record, claims } = found
  return {
    ...(claims ?? {}),
    active: true,
    iss: p.issuer,
    sub: record.sub,
    aud: record.aud,
    client_id: record.clientId,
    ...(record.scope.length > 0 ? { scope: record.scope.join(' ') } : {}),
    ...(record.username !== undefined ? { username: record.username } : {}),
    // RFC 9449 §6.2: the key binding, for resource servers that introspect.
    ...(record.jkt !== undefined ? { cnf: { jkt: record.jkt } } : {}),
    token_type: record.jkt !== undefined ? 'DPoP' : 'Bearer',
    exp: Math.floor(record.expMs / 1000),
    iat: Math.floor(record.iatMs / 1000),
    jti: record.id.length <= 24 ? record.id : undefined,
  }
}

async function refreshInfo(p: Provider, token: string): Promise<Record<string, unknown> | undefined> {
  const record = p.state.refreshTokens.get(token)
  if (record?.status !== 'active' || record.expMs <= p.clock.now()) return undefined
  const grant = p.state.grants.get(record.grantId)
  if (!grant || grant.revoked) return undefined
  return {
    active: true,
    iss: p.issuer,
    sub: grant.sub,
    client_id: record.clientId,
    ...(grant.scope.length > 0 ? { scope: grant.scope.join(' ') } : {}),
    ...(record.jkt !== undefined ? { cnf: { jkt: record.jkt } } : {}),
    token_type: 'refresh_token',
    exp: Math.floor(record.expMs / 1000),
    iat: Math.floor(record.iatMs / 1000),
  }
}

/** POST /revoke (RFC 7009). @internal */
export async function revoke(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  const { params, client } = await authenticatedForm(p, request, log, '/revoke')
  const token = required(params, 'token')
  const ok = new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } })
  const refresh = p.state.refreshTokens.get(token)
  if (refresh) {
    if (refresh.clientId !== client.clientId)
      throw fail('invalid_request', 'the token was issued to another client')
    // RFC 7009 §2.1: revoking a refresh token revokes the access tokens of the same grant.
    p.state.revokeGrant(refresh.grantId)
    return ok
  }
  const found = await findAccessToken(p, token)
  if (found) {
    if (found.record.clientId !== client.clientId)
      throw fail('invalid_request', 'the token was issued to another client')
    found.record.revoked = true
  }
  return ok
}

/** GET/POST /end_session (OpenID Connect RP-Initiated Logout 1.0). @internal */
export async function endSession(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  const params =
    request.method === 'POST' ? await readForm(request) : parseParams(new URL(request.url).searchParams)
  log.params = redactParams(params)
  const hint = params.get('id_token_hint')
  let hintClaims: Record<string, unknown> | undefined
  if (hint !== undefined) {
    hintClaims = await verifyOwnJwt(p, hint)
    if (!hintClaims) throw fail('invalid_request', 'id_token_hint is not an ID token this IdP issued')
  }
  const audience = hintClaims?.aud
  const hintClient =
    typeof audience === 'string' ? audience : Array.isArray(audience) ? String(audience[0]) : undefined
  const clientId = params.get('client_id') ?? hintClient
  if (clientId !== undefined) log.clientId = clientId
  if (params.has('client_id') && hintClient !== undefined && params.get('client_id') !== hintClient) {
    throw fail('invalid_request', 'client_id differs from the audience of id_token_hint')
  }
  const target = params.get('post_logout_redirect_uri')
  if (target !== undefined) {
    const client = clientId === undefined ? undefined : p.clients.get(clientId)
    if (!client) throw fail('invalid_request', 'post_logout_redirect_uri needs client_id or id_token_hint')
    if (!redirectUriMatches(client.postLogoutRedirectUris ?? [], target, localhostAnyPort(p, client))) {
      throw fail(
        'invalid_request',
        `post_logout_redirect_uri "${truncate(target, 200)}" is not registered for client ${client.clientId}`,
      )
    }
    const url = new URL(target)
    const state = params.get('state')
    if (state !== undefined) url.searchParams.set('state', state)
    return new Response(null, { status: 302, headers: { location: url.href, 'cache-control': 'no-store' } })
  }
  return page('Signed out', '<p>You are signed out. You can close this window.</p>')
}

/** GET/POST /device: where a person types the user code and approves. @internal */
export async function deviceVerification(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  const action = p.url('/device')
  if (request.method === 'GET') {
    const params = parseParams(new URL(request.url).searchParams)
    log.params = redactParams(params)
    return devicePage(action, params.get('user_code') ?? '')
  }
  const form = await readForm(request)
  log.params = redactParams(form)
  const typed = form.get('user_code') ?? ''
  const code = normalizeUserCode(typed)
  let device: DeviceRecord
  try {
    device = p.state.deviceForUserCode(code)
  } catch {
    return devicePage(action, typed, {
      text: 'That code is not valid. Check the code on your device.',
      error: true,
    })
  }
  log.clientId = device.clientId
  if (device.status !== 'pending' || device.expMs <= p.clock.now()) {
    return devicePage(action, typed, { text: 'That code has expired or was already used.', error: true })
  }
  // Deny changes the device's fate as much as approve does, so it needs the same sign-in.
  const user = p.userByLogin(form.get('username') ?? '')
  const password = form.get('password') ?? ''
  if (!user || user.password === undefined || !timingSafeEqual(password, user.password)) {
    return devicePage(action, typed, { text: 'Wrong username or password.', error: true })
  }
  if (form.get('action') === 'deny') {
    p.decideDevice(code, 'deny')
    return page('Device denied', '<p>The device was not connected. You can close this window.</p>')
  }
  p.decideDevice(code, 'approve', user.sub)
  return page('Device connected', '<p>Your device is connected. You can return to it now.</p>')
}

/** POST /register (RFC 7591). @internal */
export async function register(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  if (request.method !== 'POST') {
    throw new OAuthFailure(
      405,
      'invalid_request',
      `registration takes POST, not ${truncate(request.method)}`,
      { allow: 'POST' },
    )
  }
  const body = await readJsonObject(request, 'invalid_client_metadata')
  log.params = { client_name: typeof body.client_name === 'string' ? body.client_name : '' }
  const strings = (name: string): string[] | undefined => {
    const value = body[name]
    if (value === undefined) return undefined
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw fail(
        name === 'redirect_uris' ? 'invalid_redirect_uri' : 'invalid_client_metadata',
        `${name} must be an array of strings`,
      )
    }
    return value as string[]
  }
  const redirectUris = strings('redirect_uris') ?? []
  for (const uri of redirectUris) {
    let url: URL
    try {
      url = new URL(uri)
    } catch {
      throw fail('invalid_redirect_uri', `redirect URI "${truncate(uri, 200)}" is not an absolute URL`)
    }
    if (url.hash !== '')
      throw fail('invalid_redirect_uri', `redirect URI "${truncate(uri, 200)}" must not have a fragment`)
  }
  const grantTypes = strings('grant_types') ?? ['authorization_code']
  for (const grant of grantTypes) {
    if (!(ALL_GRANTS as readonly string[]).includes(grant))
      throw fail('invalid_client_metadata', `grant type "${truncate(grant)}" is not supported`)
  }
  if (grantTypes.includes('authorization_code') && redirectUris.length === 0) {
    throw fail('invalid_redirect_uri', 'the authorization code grant needs at least one redirect URI')
  }
  const responseTypes = strings('response_types') ?? ['code']
  if (responseTypes.some((t) => t !== 'code'))
    throw fail('invalid_client_metadata', 'only the "code" response type is supported')
  const method = (body.token_endpoint_auth_method ?? 'client_secret_basic') as ClientAuthMethod
  if (!AUTH_METHODS.includes(method))
    throw fail(
      'invalid_client_metadata',
      `token_endpoint_auth_method "${truncate(String(method))}" is not supported`,
    )
  const jwks = body.jwks
  if (
    method === 'private_key_jwt' &&
    !(typeof jwks === 'object' && jwks !== null && Array.isArray((jwks as { keys?: unknown }).keys))
  ) {
    throw fail('invalid_client_metadata', 'private_key_jwt needs "jwks" with the client\'s public keys')
  }
  const scope = typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : undefined
  const clientName = typeof body.client_name === 'string' ? body.client_name : undefined
  const flag = (name: string): boolean | undefined => {
    const value = body[name]
    if (value === undefined || typeof value === 'boolean') return value
    throw fail('invalid_client_metadata', `${name} must be a boolean`)
  }
  const dpopBound = flag('dpop_bound_access_tokens')
  const requirePar = flag('require_pushed_authorization_requests')
  const clientId = `dyn-${randomToken(12)}`
  const clientSecret =
    method === 'client_secret_basic' || method === 'client_secret_post' ? randomToken(32) : undefined
  let client: MockClient
  try {
    client = checkClient(
      {
        clientId,
        ...(clientSecret !== undefined ? { clientSecret } : {}),
        ...(method === 'private_key_jwt' ? { jwks: jwks as { keys: JsonWebKey[] } } : {}),
        tokenEndpointAuthMethod: method,
        redirectUris,
        grantTypes: grantTypes as GrantType[],
        ...(scope ? { scopes: scope } : {}),
        ...(clientName !== undefined ? { clientName } : {}),
        ...(dpopBound !== undefined ? { dpopBoundAccessTokens: dpopBound } : {}),
        ...(requirePar !== undefined ? { requirePushedAuthorizationRequests: requirePar } : {}),
      },
      p.settings.scopes,
    )
  } catch (error) {
    if (error instanceof MockIdpError) throw fail('invalid_client_metadata', error.message)
    throw error
  }
  if (grantTypes.includes('client_credentials') && !isConfidential(client)) {
    throw fail(
      'invalid_client_metadata',
      'client_credentials needs a confidential client (token_endpoint_auth_method other than none)',
    )
  }
  p.clients.set(clientId, client)
  log.clientId = clientId
  return json(
    {
      client_id: clientId,
      ...(clientSecret !== undefined ? { client_secret: clientSecret, client_secret_expires_at: 0 } : {}),
      client_id_issued_at: p.clock.nowSeconds(),
      redirect_uris: redirectUris,
      grant_types: grantTypes,
      response_types: responseTypes,
      token_endpoint_auth_method: method,
      ...(scope ? { scope: scope.join(' ') } : {}),
      ...(clientName !== undefined ? { client_name: clientName } : {}),
      ...(dpopBound !== undefined ? { dpop_bound_access_tokens: dpopBound } : {}),
      ...(requirePar !== undefined ? { require_pushed_authorization_requests: requirePar } : {}),
    },
    201,
  )
}

export { DEVICE_GRANT }
