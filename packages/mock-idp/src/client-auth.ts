/** Client authentication at the token, device, introspection and revocation endpoints. @module */
import { createLocalJWKSet, jwtVerify } from 'jose'
import { type LogDraft, redactParams } from './journal.ts'
import type { Provider } from './provider.ts'
import { isConfidential } from './settings.ts'
import type { MockClient } from './types.ts'
import { timingSafeEqual } from './util.ts'
import { basicChallenge, fail, OAuthFailure, parseBasic, readForm, truncate } from './wire.ts'

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/**
 * The client id a request claims (Basic user, `client_id`, or the assertion's `iss`), before any
 * check: the journal records it even when authentication then fails. @internal
 */
export function claimedClientId(request: Request, params: ReadonlyMap<string, string>): string | undefined {
  const header = request.headers.get('authorization')
  if (header !== null && /^basic /i.test(header)) {
    try {
      return parseBasic(header).id
    } catch {
      return undefined
    }
  }
  const assertion = params.get('client_assertion')
  return params.get('client_id') ?? (assertion === undefined ? undefined : unverifiedIssuer(assertion))
}

/**
 * The prologue of every client-authenticated endpoint: reads the form, journals its redacted
 * params and the claimed client, then authenticates the client. `endpoint` is the path whose URL
 * a `private_key_jwt` assertion may name as audience (besides the token endpoint and issuer). @internal
 */
export async function authenticatedForm(
  p: Provider,
  request: Request,
  log: LogDraft,
  endpoint: string,
): Promise<{ params: Map<string, string>; client: MockClient; method: UsedMethod }> {
  const params = await readForm(request)
  log.params = redactParams(params)
  const claimed = claimedClientId(request, params)
  if (claimed !== undefined) log.clientId = claimed
  const grantType = params.get('grant_type')
  if (grantType !== undefined) log.grantType = grantType
  const audience = [...new Set([p.url(endpoint), p.url('/token'), p.issuer])]
  const { client, method } = await authenticateClient(p, request, params, audience)
  log.clientId = client.clientId
  return { params, client, method }
}

/** Which authentication a request used. */
export type UsedMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'

/**
 * Authenticates the client of a request (RFC 6749 §2.3, OIDC Core §9). Exactly one method may be
 * used; a failure is `401 invalid_client` with a `WWW-Authenticate` challenge. @internal
 */
export async function authenticateClient(
  p: Provider,
  request: Request,
  params: Map<string, string>,
  audienceUrls: readonly string[],
): Promise<{ client: MockClient; method: UsedMethod }> {
  const header = request.headers.get('authorization')
  const basic = header !== null && /^basic /i.test(header)
  const post = params.has('client_secret')
  const assertion = params.has('client_assertion') || params.has('client_assertion_type')
  if (Number(basic) + Number(post) + Number(assertion) > 1) {
    throw fail('invalid_request', 'use exactly one client authentication method (RFC 6749 §2.3)')
  }

  if (basic) {
    const { id, secret } = parseBasic(header)
    const bodyId = params.get('client_id')
    if (bodyId !== undefined && bodyId !== id)
      throw fail('invalid_request', 'client_id in the body differs from the Basic credentials')
    const client = knownClient(p, id)
    checkMethod(client, 'client_secret_basic')
    if (client.clientSecret === undefined || !timingSafeEqual(secret, client.clientSecret))
      throw invalidClient('wrong client secret')
    return { client, method: 'client_secret_basic' }
  }

  if (post) {
    const id = params.get('client_id')
    if (id === undefined) throw invalidClient('client_secret without client_id')
    const client = knownClient(p, id)
    checkMethod(client, 'client_secret_post')
    if (
      client.clientSecret === undefined ||
      !timingSafeEqual(params.get('client_secret') ?? '', client.clientSecret)
    ) {
      throw invalidClient('wrong client secret')
    }
    return { client, method: 'client_secret_post' }
  }

  if (assertion) {
    if (params.get('client_assertion_type') !== JWT_BEARER) {
      throw fail('invalid_request', `client_assertion_type must be ${JWT_BEARER}`)
    }
    const jwt = params.get('client_assertion')
    if (jwt === undefined) throw fail('invalid_request', 'the "client_assertion" parameter is missing')
    const claimedId = params.get('client_id') ?? unverifiedIssuer(jwt)
    if (claimedId === undefined) throw invalidClient('the client assertion names no client')
    const client = knownClient(p, claimedId)
    checkMethod(client, 'private_key_jwt')
    if (!client.jwks)
      throw invalidClient(`client ${client.clientId} has no registered keys for private_key_jwt`)
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload']
    try {
      ;({ payload } = await jwtVerify(jwt, createLocalJWKSet({ keys: [...client.jwks.keys] as never }), {
        issuer: client.clientId,
        subject: client.clientId,
        audience: [...audienceUrls],
        currentDate: new Date(p.clock.now()),
        requiredClaims: ['exp', 'jti'],
        algorithms: [
          'RS256',
          'RS384',
          'RS512',
          'PS256',
          'PS384',
          'PS512',
          'ES256',
          'ES384',
          'ES512',
          'EdDSA',
          'Ed25519',
        ],
      }))
    } catch (error) {
      throw invalidClient(
        `client assertion rejected: ${error instanceof Error ? truncate(error.message, 120) : 'invalid'}`,
      )
    }
    if (
      typeof payload.jti !== 'string' ||
      !p.state.useAssertion(`${client.clientId}:${payload.jti}`, (payload.exp ?? 0) * 1000)
    ) {
      throw invalidClient('client assertion jti was already used')
    }
    return { client, method: 'private_key_jwt' }
  }

  const id = params.get('client_id')
  if (id === undefined) throw invalidClient('no client authentication and no client_id')
  const client = knownClient(p, id)
  if (isConfidential(client))
    throw invalidClient(`client ${client.clientId} is confidential and must authenticate`)
  return { client, method: 'none' }
}

function knownClient(p: Provider, id: string): MockClient {
  const client = p.clients.get(id)
  if (!client) throw invalidClient(`unknown client "${truncate(id)}"`)
  return client
}

function checkMethod(client: MockClient, used: UsedMethod): void {
  const pinned = client.tokenEndpointAuthMethod
  if (pinned !== undefined && pinned !== used) {
    throw invalidClient(`client ${client.clientId} must authenticate with ${pinned}, not ${used}`)
  }
  if (pinned === undefined && used === 'private_key_jwt' && !client.jwks) {
    throw invalidClient(`client ${client.clientId} has no registered keys for private_key_jwt`)
  }
  if (pinned === undefined && used !== 'private_key_jwt' && client.clientSecret === undefined) {
    throw invalidClient(`client ${client.clientId} has no client secret`)
  }
}

function invalidClient(description: string): OAuthFailure {
  return new OAuthFailure(
    401,
    'invalid_client',
    `client authentication failed: ${description}`,
    basicChallenge(),
  )
}

/** Reads `iss` from a JWT without verifying it, only to find which client's keys verify it. */
function unverifiedIssuer(jwt: string): string | undefined {
  const part = jwt.split('.')[1]
  if (!part) return undefined
  try {
    const json: unknown = JSON.parse(atob(part.replaceAll('-', '+').replaceAll('_', '/')))
    return typeof json === 'object' && json !== null && typeof (json as { iss?: unknown }).iss === 'string'
      ? (json as { iss: string }).iss
      : undefined
  } catch {
    return undefined
  }
}
