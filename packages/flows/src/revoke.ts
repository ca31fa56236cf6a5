/** Token revocation (RFC 7009) for logout. @module */
import { type HttpContext, KeyfobError, revokeToken, type TokenRecord } from '@keyfob/core'

/**
 * What became of one token at logout: `revoked` (the provider confirmed), `refused` (the provider
 * answered with an error, e.g. `invalid_client`), `unreachable` (no answer, a timeout, a 5xx), or
 * `unsupported` (the provider has no revocation endpoint).
 */
export type RevocationOutcome = 'revoked' | 'refused' | 'unreachable' | 'unsupported'

/** The revocation of one token. */
export interface TokenRevocation {
  /** Which token. */
  readonly token: 'refresh_token' | 'access_token'
  /** What became of it. */
  readonly outcome: RevocationOutcome
  /** The error code, when it was not revoked. */
  readonly code?: string
  /** The error message (the provider's answer), when it was not revoked; never a token. */
  readonly message?: string
}

/** What {@link Session.logout} did: each token's revocation, and the local removal. */
export interface RevocationResult {
  /** `true` when there was something to revoke and the provider confirmed every revocation. */
  readonly revoked: boolean
  /** One entry per stored token, in the order tried; empty when nothing was stored. */
  readonly tokens: readonly TokenRevocation[]
  /** Whether a stored record was removed from the store (it always is, when there was one). */
  readonly removed: boolean
  /** The first failure's code and message, when a revocation was tried and did not succeed. */
  readonly reason?: { readonly code: string; readonly message: string }
}

const UNREACHABLE = new Set([
  'ERR_NETWORK',
  'ERR_TIMEOUT',
  'ERR_SERVER_ERROR',
  'ERR_TEMPORARILY_UNAVAILABLE',
  'ERR_DISCOVERY',
])

/**
 * The outcome a failed revocation (or the discovery before it) stands for.
 *
 * @internal
 */
export function outcomeOf(error: unknown): Omit<TokenRevocation, 'token'> {
  if (!(error instanceof KeyfobError))
    return { outcome: 'unreachable', code: 'ERR_NETWORK', message: 'the provider could not be reached' }
  const outcome: RevocationOutcome =
    error.code === 'ERR_UNSUPPORTED' ? 'unsupported' : UNREACHABLE.has(error.code) ? 'unreachable' : 'refused'
  return { outcome, code: error.code, message: error.message }
}

/** The tokens of a record that logout revokes, refresh token first (it ends the grant). */
export function revocableTokens(
  record: TokenRecord | undefined,
): Array<readonly [string, TokenRevocation['token']]> {
  const tokens: Array<readonly [string, TokenRevocation['token']]> = []
  if (record?.refreshToken !== undefined) tokens.push([record.refreshToken, 'refresh_token'])
  if (record?.accessToken !== undefined) tokens.push([record.accessToken, 'access_token'])
  return tokens
}

/**
 * Revokes a record's refresh token (which ends the grant on most providers), then its access
 * token, and reports each outcome. A failure is reported, never thrown: logout goes on to clear
 * the store regardless.
 *
 * @param ctx - Provider metadata, client, fetch, timeout.
 * @param record - The stored tokens.
 * @returns Each token's outcome.
 * @internal
 */
export async function revokeRecord(ctx: HttpContext, record: TokenRecord): Promise<TokenRevocation[]> {
  const results: TokenRevocation[] = []
  for (const [token, hint] of revocableTokens(record)) {
    try {
      await revokeToken(ctx, token, hint)
      results.push({ token: hint, outcome: 'revoked' })
    } catch (error) {
      results.push({ token: hint, ...outcomeOf(error) })
    }
  }
  return results
}

/**
 * The result of a logout from the outcomes of its revocations.
 *
 * @internal
 */
export function revocationResult(tokens: readonly TokenRevocation[], removed: boolean): RevocationResult {
  const failed = tokens.find((t) => t.outcome !== 'revoked')
  return {
    revoked: tokens.length > 0 && failed === undefined,
    tokens,
    removed,
    ...(failed
      ? { reason: { code: failed.code ?? 'ERR_OAUTH', message: failed.message ?? failed.outcome } }
      : {}),
  }
}
