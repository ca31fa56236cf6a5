/** Token revocation (RFC 7009) for logout. @module */
import { type HttpContext, KeyfobError, revokeToken, type TokenRecord } from '@keyfob/core'

/** What {@link Session.logout} found out: what the provider revoked. */
export interface RevocationResult {
  /** `true` when every token present in the record was revoked. */
  readonly revoked: boolean
  /** Why not, when not: the error code and message of the first failure (never a token). */
  readonly reason?: { readonly code: string; readonly message: string }
}

/**
 * Revokes a record's refresh token (which ends the grant on most providers), then its access
 * token. A failure is reported, never thrown: logout goes on to clear the store regardless.
 *
 * @param ctx - Provider metadata, client, fetch, timeout.
 * @param record - The stored tokens.
 * @returns Whether the provider confirmed every revocation, and why not.
 * @internal
 */
export async function revokeRecord(ctx: HttpContext, record: TokenRecord): Promise<RevocationResult> {
  const tokens = [
    [record.refreshToken, 'refresh_token'],
    [record.accessToken, 'access_token'],
  ] as const
  for (const [token, hint] of tokens) {
    if (token === undefined) continue
    try {
      await revokeToken(ctx, token, hint)
    } catch (error) {
      const known = error instanceof KeyfobError
      return {
        revoked: false,
        reason: {
          code: known ? error.code : 'ERR_NETWORK',
          message: known ? error.message : 'revocation failed',
        },
      }
    }
  }
  return { revoked: true }
}
