/** Typed errors: one class, a stable `code`, evidence in `cause`, never a secret. @module */

/** Codes for the OAuth errors of RFC 6749 §5.2, §4.1.2.1, RFC 7009 §2.2.1 and RFC 8628 §3.5. */
export type OAuthErrorCode =
  | 'ERR_INVALID_REQUEST'
  | 'ERR_INVALID_CLIENT'
  | 'ERR_INVALID_GRANT'
  | 'ERR_UNAUTHORIZED_CLIENT'
  | 'ERR_UNSUPPORTED_GRANT_TYPE'
  | 'ERR_INVALID_SCOPE'
  | 'ERR_ACCESS_DENIED'
  | 'ERR_UNSUPPORTED_RESPONSE_TYPE'
  | 'ERR_SERVER_ERROR'
  | 'ERR_TEMPORARILY_UNAVAILABLE'
  | 'ERR_AUTHORIZATION_PENDING'
  | 'ERR_SLOW_DOWN'
  | 'ERR_EXPIRED_TOKEN'
  | 'ERR_UNSUPPORTED_TOKEN_TYPE'
  | 'ERR_LOGIN_REQUIRED'
  /** RFC 8707 §2: a resource indicator the server does not accept. */
  | 'ERR_INVALID_TARGET'
  /** RFC 9449 §5: the DPoP proof was refused. */
  | 'ERR_INVALID_DPOP_PROOF'
  /** RFC 9449 §8: the server wants a DPoP nonce (left after the one retry with it). */
  | 'ERR_USE_DPOP_NONCE'
  | 'ERR_OAUTH'

/** Codes for failures found on this side of the wire. */
export type LocalErrorCode =
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_NETWORK'
  | 'ERR_INVALID_RESPONSE'
  /** An endpoint answered an error status with a body that is not an OAuth error (empty, HTML, …). */
  | 'ERR_HTTP_STATUS'
  | 'ERR_DISCOVERY'
  | 'ERR_ISSUER_MISMATCH'
  | 'ERR_INSECURE_REDIRECT'
  | 'ERR_STATE_MISMATCH'
  /** The provider answered the authorization request with an error page instead of a redirect. */
  | 'ERR_AUTHORIZATION_REFUSED'
  | 'ERR_PORT_IN_USE'
  | 'ERR_NO_PROVIDER'
  | 'ERR_UNKNOWN_PROVIDER'
  | 'ERR_AMBIGUOUS_PROVIDER'
  | 'ERR_NO_CLIENT'
  | 'ERR_NO_REFRESH_TOKEN'
  | 'ERR_INVALID_CONFIG'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_UNSUPPORTED'
  /** The provider does not advertise DPoP with an algorithm keyfob signs with. */
  | 'ERR_DPOP_UNSUPPORTED'
  /** A DPoP-bound token request was answered with a token that is not DPoP-bound (`token_type` not `DPoP`). */
  | 'ERR_DPOP_NOT_BOUND'

/** Every code a {@link KeyfobError} can carry. Switch on it; never on the message. */
export type KeyfobErrorCode = OAuthErrorCode | LocalErrorCode

/** The evidence of an OAuth error response, as `cause` of a {@link KeyfobError}. */
export interface OAuthErrorEvidence {
  /** The `error` field the server sent. */
  readonly error: string
  /** The `error_description`, if any. */
  readonly errorDescription?: string
  /** The HTTP status. */
  readonly status?: number
}

/**
 * The one error class of `@keyfob/core` (and of the drivers in `@keyfob/flows`). The message says
 * what was wrong, with which value, and what to do next; `cause` holds the evidence (the parsed
 * OAuth error, the HTTP status, the offending value). A secret never appears in either.
 *
 * @example
 * ```ts
 * import { KeyfobError } from '@keyfob/core'
 * try { await session.accessToken() } catch (e) {
 *   if (e instanceof KeyfobError && e.code === 'ERR_INVALID_GRANT') console.error('log in again')
 * }
 * ```
 */
export class KeyfobError extends Error {
  /** What went wrong, stable across versions. */
  readonly code: KeyfobErrorCode

  /**
   * @param code - The stable error code.
   * @param message - What was wrong, with which value, and what to do next.
   * @param options - `cause`: the evidence.
   */
  constructor(code: KeyfobErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = this.constructor.name
  }
}

const OAUTH_CODES: Readonly<Record<string, OAuthErrorCode>> = {
  invalid_request: 'ERR_INVALID_REQUEST',
  invalid_client: 'ERR_INVALID_CLIENT',
  invalid_grant: 'ERR_INVALID_GRANT',
  unauthorized_client: 'ERR_UNAUTHORIZED_CLIENT',
  unsupported_grant_type: 'ERR_UNSUPPORTED_GRANT_TYPE',
  invalid_scope: 'ERR_INVALID_SCOPE',
  access_denied: 'ERR_ACCESS_DENIED',
  unsupported_response_type: 'ERR_UNSUPPORTED_RESPONSE_TYPE',
  server_error: 'ERR_SERVER_ERROR',
  temporarily_unavailable: 'ERR_TEMPORARILY_UNAVAILABLE',
  authorization_pending: 'ERR_AUTHORIZATION_PENDING',
  slow_down: 'ERR_SLOW_DOWN',
  expired_token: 'ERR_EXPIRED_TOKEN',
  unsupported_token_type: 'ERR_UNSUPPORTED_TOKEN_TYPE',
  login_required: 'ERR_LOGIN_REQUIRED',
  invalid_target: 'ERR_INVALID_TARGET',
  invalid_dpop_proof: 'ERR_INVALID_DPOP_PROOF',
  use_dpop_nonce: 'ERR_USE_DPOP_NONCE',
}

const ADVICE: Readonly<Partial<Record<OAuthErrorCode, string>>> = {
  ERR_INVALID_CLIENT: 'check the client id and secret',
  ERR_INVALID_GRANT: 'the grant (code, refresh token, password) is invalid, expired or revoked; log in again',
  ERR_UNAUTHORIZED_CLIENT: 'this client may not use this grant; use another client or grant',
  ERR_UNSUPPORTED_GRANT_TYPE: 'the provider does not support this grant',
  ERR_INVALID_SCOPE: 'ask for fewer or other scopes',
  ERR_ACCESS_DENIED: 'the user or the provider denied access',
  ERR_EXPIRED_TOKEN: 'the device code expired before approval; start the login again',
  ERR_SERVER_ERROR: 'the provider failed; try again later',
  ERR_TEMPORARILY_UNAVAILABLE: 'the provider is overloaded or down; try again later',
  ERR_INVALID_TARGET:
    'the provider does not accept this resource indicator for this client; check the resource setting (--resource)',
  ERR_INVALID_DPOP_PROOF: "the provider refused the DPoP proof; check the provider's dpop setting",
}

/**
 * The {@link KeyfobErrorCode} of an OAuth `error` value.
 *
 * @param error - The `error` field of an OAuth error response, e.g. `invalid_grant`.
 * @returns The code, or `ERR_OAUTH` for an error this library does not know.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 * @example
 * ```ts
 * oauthErrorCode('slow_down') // 'ERR_SLOW_DOWN'
 * ```
 */
export function oauthErrorCode(error: string): OAuthErrorCode {
  return OAUTH_CODES[error] ?? 'ERR_OAUTH'
}

/**
 * Builds the {@link KeyfobError} for an OAuth error response.
 *
 * @param evidence - The error, its description and the HTTP status.
 * @param where - What was being done, for the message ("token request to https://…/token").
 * @returns The error, with the evidence as `cause`.
 * @example
 * ```ts
 * throw oauthError({ error: 'invalid_grant', status: 400 }, 'refresh at https://idp/token')
 * ```
 */
export function oauthError(evidence: OAuthErrorEvidence, where: string): KeyfobError {
  const code = oauthErrorCode(evidence.error)
  const description = evidence.errorDescription ? ` (${evidence.errorDescription})` : ''
  const advice = ADVICE[code] ? `: ${ADVICE[code]}` : ''
  return new KeyfobError(code, `${where} failed with ${evidence.error}${description}${advice}`, {
    cause: evidence,
  })
}
