/** PKCE (RFC 7636) for the authorization code and the device grant: challenges in, verifiers out. @module */
import type { MockClient } from './types.ts'
import { sha256b64url, timingSafeEqual } from './util.ts'
import { fail, truncate } from './wire.ts'

const CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/

/** A request's PKCE challenge, checked. @internal */
export interface Challenge {
  readonly codeChallenge: string | undefined
  readonly method: 'S256' | 'plain' | undefined
}

/**
 * Reads `code_challenge` and `code_challenge_method` from a request: S256 only unless the client
 * allows `plain`, the RFC 7636 §4.2 alphabet and length, and present when `required`.
 *
 * @throws OAuthFailure `invalid_request` naming what is wrong.
 * @internal
 */
export function readChallenge(
  params: ReadonlyMap<string, string>,
  client: MockClient,
  required: boolean,
): Challenge {
  const codeChallenge = params.get('code_challenge')
  const requestedMethod = params.get('code_challenge_method')
  if (codeChallenge === undefined) {
    if (requestedMethod !== undefined)
      throw fail('invalid_request', 'code_challenge_method without code_challenge')
    if (required) {
      throw fail(
        'invalid_request',
        `client ${client.clientId} must use PKCE: send code_challenge with code_challenge_method=S256`,
      )
    }
    return { codeChallenge: undefined, method: undefined }
  }
  // RFC 7636 §4.3: the method defaults to plain, which this IdP refuses unless the client allows it.
  const method = requestedMethod ?? 'plain'
  if (method !== 'S256' && method !== 'plain') {
    throw fail('invalid_request', `code_challenge_method "${truncate(method)}" is not supported; use S256`)
  }
  if (method === 'plain' && !client.allowPlainPkce) {
    throw fail('invalid_request', 'PKCE method "plain" is refused; use code_challenge_method=S256')
  }
  if (!CHALLENGE.test(codeChallenge)) {
    throw fail(
      'invalid_request',
      'code_challenge must be 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.2)',
    )
  }
  return { codeChallenge, method }
}

/**
 * Checks a token request's `code_verifier` against the challenge of the request it redeems: a
 * verifier is required when there was a challenge, and refused when there was none.
 *
 * @param what - The request the challenge came with, for messages ("the authorization request").
 * @throws OAuthFailure `invalid_grant`.
 * @internal
 */
export async function checkVerifier(
  challenge: Challenge,
  verifier: string | undefined,
  what: string,
): Promise<void> {
  if (challenge.codeChallenge === undefined) {
    if (verifier !== undefined)
      throw fail('invalid_grant', `code_verifier sent, but ${what} had no code_challenge`)
    return
  }
  if (verifier === undefined)
    throw fail('invalid_grant', `code_verifier is missing (PKCE was used in ${what})`)
  if (!VERIFIER.test(verifier))
    throw fail('invalid_grant', 'code_verifier must be 43-128 characters of [A-Za-z0-9-._~]')
  const computed = challenge.method === 'S256' ? await sha256b64url(verifier) : verifier
  if (!timingSafeEqual(computed, challenge.codeChallenge))
    throw fail('invalid_grant', 'code_verifier does not match the code_challenge')
}
