/** The token endpoint (RFC 6749 §3.2) with every grant, and device authorization (RFC 8628). @module */

import { authenticatedForm } from './client-auth.ts'
import { type DpopProof, nonceRequired, readDpopProof } from './dpop.ts'
import { issueTokens, type TokenResponse } from './issuing.ts'
import type { LogDraft } from './journal.ts'
import { checkVerifier, readChallenge } from './pkce.ts'
import type { Provider } from './provider.ts'
import { ALL_GRANTS, DEVICE_GRANT, grantsOf, isConfidential } from './settings.ts'
import type { GrantType, MockClient } from './types.ts'
import { parseScope, timingSafeEqual } from './util.ts'
import { allValues, fail, json, required, truncate } from './wire.ts'

/** POST /token. @internal */
export async function token(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  const { params, client } = await authenticatedForm(p, request, log, '/token')
  const grantType = params.get('grant_type')
  if (grantType === undefined) throw fail('invalid_request', 'the "grant_type" parameter is missing')
  if (!(ALL_GRANTS as readonly string[]).includes(grantType)) {
    throw fail('unsupported_grant_type', `grant_type "${truncate(grantType)}" is not supported`)
  }
  if (!grantsOf(client).includes(grantType as GrantType)) {
    throw fail('unauthorized_client', `client ${client.clientId} may not use the ${grantType} grant`)
  }
  const nonce = nonceRequired(p, client)
  const proof = await readDpopProof(p, request, log, {
    htm: 'POST',
    htu: p.url('/token'),
    nonceRequired: nonce,
  })
  if (!proof && client.dpopBoundAccessTokens) {
    throw fail(
      'invalid_request',
      `client ${client.clientId} must send a DPoP proof with every token request (its dpopBoundAccessTokens, RFC 9449 §5.2)`,
    )
  }
  const grant = GRANTS[grantType as GrantType]
  const headers: Record<string, string> = proof && nonce ? { 'dpop-nonce': p.dpopNonces.current() } : {}
  return json(await grant(p, client, params, proof), 200, headers)
}

type GrantHandler = (
  p: Provider,
  client: MockClient,
  params: Map<string, string>,
  proof: DpopProof | undefined,
) => Promise<TokenResponse>

const GRANTS: Readonly<Record<GrantType, GrantHandler>> = {
  authorization_code: authorizationCode,
  [DEVICE_GRANT]: deviceCode,
  client_credentials: clientCredentials,
  password,
  refresh_token: refreshToken,
}

/** The `aud` resource indicators ask for (RFC 8707 §2): `undefined` leaves the default. @internal */
export function audienceOf(resources: readonly string[]): string | readonly string[] | undefined {
  return resources.length === 0 ? undefined : resources.length === 1 ? resources[0] : resources
}

/**
 * What the issued tokens are bound to: the access token to the proof's key, and a public
 * client's refresh token too (RFC 9449 §5; a confidential client's is bound to its credentials).
 */
function binding(client: MockClient, proof: DpopProof | undefined, previous?: string) {
  return {
    jkt: proof?.jkt,
    refreshJkt: isConfidential(client) ? undefined : (previous ?? proof?.jkt),
  }
}

function wantsRefresh(client: MockClient): boolean {
  return grantsOf(client).includes('refresh_token')
}

async function authorizationCode(
  p: Provider,
  client: MockClient,
  params: Map<string, string>,
  proof: DpopProof | undefined,
): Promise<TokenResponse> {
  const code = required(params, 'code')
  const record = p.state.codes.get(code)
  if (!record || record.clientId !== client.clientId)
    throw fail('invalid_grant', 'the authorization code is invalid')
  if (record.used) {
    // RFC 6749 §4.1.2: a code used twice revokes what it issued.
    p.state.revokeGrant(record.grantId)
    throw fail('invalid_grant', 'the authorization code was already used; the tokens it issued are revoked')
  }
  if (record.dpopJkt !== undefined && proof?.jkt !== record.dpopJkt) {
    // RFC 9449 §10: a code bound to a key is redeemable with a proof of that key only.
    throw fail(
      'invalid_grant',
      proof
        ? "the DPoP proof's key is not the one the authorization request bound the code to (dpop_jkt, RFC 9449 §10)"
        : 'the authorization request bound the code to a DPoP key (dpop_jkt, RFC 9449 §10); send a proof signed with it',
    )
  }
  record.used = true
  if (record.expMs <= p.clock.now()) throw fail('invalid_grant', 'the authorization code has expired')
  if (params.get('redirect_uri') !== record.redirectUri) {
    throw fail('invalid_grant', 'redirect_uri differs from the one in the authorization request')
  }
  await checkVerifier(
    { codeChallenge: record.codeChallenge, method: record.codeChallengeMethod },
    params.get('code_verifier'),
    'the authorization request',
  )
  const resources = p.checkResources(client, allValues(params, 'resource'), record.resources)
  const grant = p.newGrant(client.clientId, record.sub, record.scope, record.authTimeMs, record.resources)
  record.grantId = grant.id
  return issueTokens(p, {
    client,
    grant,
    sub: record.sub,
    scope: record.scope,
    refresh: wantsRefresh(client),
    nonce: record.nonce,
    requested: record.requestedScope,
    audience: audienceOf(resources.length > 0 ? resources : record.resources),
    ...binding(client, proof),
  })
}

async function deviceCode(
  p: Provider,
  client: MockClient,
  params: Map<string, string>,
  proof: DpopProof | undefined,
): Promise<TokenResponse> {
  const code = required(params, 'device_code')
  const device = p.state.devices.get(code)
  if (!device || device.clientId !== client.clientId)
    throw fail('invalid_grant', 'the device code is invalid')
  await checkVerifier(device.pkce, params.get('code_verifier'), 'the device authorization request')
  const now = p.clock.now()
  if (device.status === 'consumed') throw fail('invalid_grant', 'the device code was already used')
  if (device.expMs <= now)
    throw fail('expired_token', 'the device code has expired; start a new device authorization')
  if (device.status === 'denied') throw fail('access_denied', 'the user denied the device authorization')
  // A client polling on a fixed timer sees its polls arrive a little early now and then (network
  // and scheduling jitter); unless strict.devicePolling is on, that is not "too fast".
  const tolerance = p.settings.strictPolling ? 0 : p.settings.pollToleranceMs
  const sinceMs = device.lastPollMs === undefined ? undefined : now - device.lastPollMs
  const tooSoon = sinceMs !== undefined && sinceMs < device.intervalS * 1000 - tolerance
  device.lastPollMs = now
  if (tooSoon) {
    // RFC 8628 §3.5: the interval grows by 5 seconds for this and every later request.
    device.intervalS += 5
    throw fail(
      'slow_down',
      `polled ${sinceMs} ms after the previous poll; wait ${device.intervalS} s between polls${
        p.settings.strictPolling ? ' (strict.devicePolling is on: no jitter allowance)' : ''
      }`,
    )
  }
  if (device.status === 'pending')
    throw fail('authorization_pending', 'the user has not yet approved the device')
  const resources = p.checkResources(client, allValues(params, 'resource'), device.resources)
  const sub = device.sub ?? ''
  device.status = 'consumed'
  const grant = p.newGrant(client.clientId, sub, device.scope, device.authTimeMs, device.resources)
  return issueTokens(p, {
    client,
    grant,
    sub,
    scope: device.scope,
    refresh: wantsRefresh(client),
    requested: device.requestedScope,
    audience: audienceOf(resources.length > 0 ? resources : device.resources),
    ...binding(client, proof),
  })
}

async function clientCredentials(
  p: Provider,
  client: MockClient,
  params: Map<string, string>,
  proof: DpopProof | undefined,
): Promise<TokenResponse> {
  if (!isConfidential(client))
    throw fail('unauthorized_client', 'the client credentials grant needs a confidential client')
  // The openEO client sends `openid` with every grant: like Keycloak and oidc-provider, grant the
  // token without it (and without an ID token) and report the granted scope.
  const requested = parseScope(params.get('scope'))
  const scope = p.grantScope(client, requested, {
    scopes: ['openid'],
    reason: 'the client credentials grant has no user, so it issues no ID token',
  })
  const resources = p.checkResources(client, allValues(params, 'resource'))
  return issueTokens(p, {
    client,
    grant: undefined,
    sub: client.clientId,
    scope,
    refresh: false,
    // `audience` is Auth0's and navikt's spelling; RFC 8707's `resource` is the standard one.
    audience: params.get('audience') ?? audienceOf(resources),
    requested,
    ...binding(client, proof),
  })
}

async function password(
  p: Provider,
  client: MockClient,
  params: Map<string, string>,
  proof: DpopProof | undefined,
): Promise<TokenResponse> {
  const username = required(params, 'username')
  const secret = required(params, 'password')
  const requested = parseScope(params.get('scope'))
  const scope = p.grantScope(client, requested)
  const user = p.userByLogin(username)
  if (!user || user.password === undefined || !timingSafeEqual(secret, user.password)) {
    throw fail('invalid_grant', 'wrong username or password')
  }
  const resources = p.checkResources(client, allValues(params, 'resource'))
  const grant = p.newGrant(client.clientId, user.sub, scope, p.clock.now(), resources)
  return issueTokens(p, {
    client,
    grant,
    sub: user.sub,
    scope,
    refresh: wantsRefresh(client),
    requested,
    audience: audienceOf(resources),
    ...binding(client, proof),
  })
}

async function refreshToken(
  p: Provider,
  client: MockClient,
  params: Map<string, string>,
  proof: DpopProof | undefined,
): Promise<TokenResponse> {
  const token = required(params, 'refresh_token')
  const record = p.state.refreshTokens.get(token)
  if (!record || record.clientId !== client.clientId)
    throw fail('invalid_grant', 'the refresh token is invalid')
  const grant = p.state.grants.get(record.grantId)
  if (!grant || grant.revoked || record.status === 'revoked')
    throw fail('invalid_grant', 'the refresh token was revoked')
  if (record.status === 'rotated') {
    // RFC 9700 §4.14.2: a rotated refresh token used again means it leaked; revoke the family.
    p.state.revokeGrant(grant.id)
    throw fail(
      'invalid_grant',
      'the refresh token was already used (rotated); every token of this grant is revoked',
    )
  }
  if (record.expMs <= p.clock.now()) throw fail('invalid_grant', 'the refresh token has expired')
  if (record.jkt !== undefined && proof?.jkt !== record.jkt) {
    // RFC 9449 §5: a public client's refresh token is bound to the key it was issued with.
    throw fail(
      'invalid_grant',
      proof
        ? 'the refresh token is bound to another DPoP key (RFC 9449 §5); sign the proof with the key the token was issued with'
        : 'the refresh token is bound to a DPoP key (RFC 9449 §5); send a DPoP proof signed with it',
    )
  }
  const resources = p.checkResources(client, allValues(params, 'resource'), grant.resources)
  const requested = parseScope(params.get('scope'))
  const extra = requested.filter((s) => !grant.scope.includes(s))
  if (extra.length > 0 && p.settings.strictScopes) {
    throw fail(
      'invalid_scope',
      `scope ${extra.join(' ')} was not granted originally (RFC 6749 §6; refused because strict.scopes is on; without it the IdP grants the original scopes asked for)`,
    )
  }
  const kept = requested.filter((s) => grant.scope.includes(s))
  const scope = kept.length > 0 ? kept : grant.scope
  const rotate = p.settings.rotateRefreshTokens
  if (rotate) record.status = 'rotated'
  return issueTokens(p, {
    client,
    grant,
    sub: grant.sub,
    scope,
    refresh: rotate,
    ...(requested.length > 0 ? { requested } : {}),
    audience: audienceOf(resources.length > 0 ? resources : grant.resources),
    ...binding(client, proof, record.jkt),
  })
}

/** POST /device_authorization (RFC 8628 §3.1). @internal */
export async function deviceAuthorization(p: Provider, request: Request, log: LogDraft): Promise<Response> {
  const { params, client } = await authenticatedForm(p, request, log, '/device_authorization')
  if (!grantsOf(client).includes(DEVICE_GRANT)) {
    throw fail('unauthorized_client', `client ${client.clientId} may not use the device authorization grant`)
  }
  const requested = parseScope(params.get('scope'))
  const scope = p.grantScope(client, requested)
  // PKCE is optional in the device grant (openEO's `device_code+pkce` clients send it) unless the
  // client requires it explicitly.
  const challenge = readChallenge(params, client, client.requirePkce === true)
  const resources = p.checkResources(client, allValues(params, 'resource'))
  const device = p.newDevice(client.clientId, scope, challenge, requested, resources)
  const verification = p.url('/device')
  return json({
    device_code: device.deviceCode,
    user_code: device.userCode,
    verification_uri: verification,
    verification_uri_complete: `${verification}?user_code=${encodeURIComponent(device.userCode)}`,
    expires_in: p.settings.deviceCodeS,
    interval: device.intervalS,
  })
}
