/** `TokenSet`: what a token endpoint answered, with absolute expiry against an injected clock. @module */

import type { TokenRecord } from './contracts.ts'
import { KeyfobError } from './errors.ts'

/** The fields of a successful token response (RFC 6749 §5.1) this library keeps. */
export interface TokenResponse {
  readonly access_token: string
  readonly token_type: string
  readonly expires_in?: number
  readonly refresh_token?: string
  readonly id_token?: string
  readonly scope?: string
  /** Non-standard (Keycloak and others): the refresh token's lifetime in seconds. */
  readonly refresh_expires_in?: number
}

/**
 * Tokens with absolute times. Immutable; built from a token response and the time it arrived,
 * or from a stored {@link TokenRecord}.
 *
 * @example
 * ```ts
 * import { TokenSet } from '@keyfob/core'
 * const tokens = TokenSet.fromResponse({ access_token: 'at', token_type: 'bearer', expires_in: 300 }, Date.now())
 * tokens.expiresWithin(Date.now(), 60_000) // false: 300 s left
 * ```
 */
export class TokenSet {
  /** The stored form. */
  readonly record: TokenRecord

  /** Use {@link TokenSet.fromResponse} or {@link TokenSet.fromRecord}. */
  private constructor(record: TokenRecord) {
    this.record = record
  }

  /**
   * Builds a token set from a token endpoint response.
   *
   * @param response - The parsed success response.
   * @param nowMs - When the response arrived (epoch ms): expiry is `nowMs + expires_in`.
   * @param previous - The record this response replaces: a refresh response without a new
   *   refresh token keeps the old one (RFC 6749 §6 lets servers omit it), and its DPoP key is kept
   *   (a refresh is signed with the same key).
   * @returns The token set.
   * @throws KeyfobError `ERR_INVALID_RESPONSE` when `access_token` is missing or not a string.
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
   * @example
   * ```ts
   * const next = TokenSet.fromResponse(response, nowMs, current.record)
   * ```
   */
  static fromResponse(response: TokenResponse, nowMs: number, previous?: TokenRecord): TokenSet {
    if (typeof response.access_token !== 'string' || response.access_token === '') {
      throw new KeyfobError('ERR_INVALID_RESPONSE', 'the token response has no access_token', {
        cause: { fields: Object.keys(response) },
      })
    }
    const expiresIn = Number(response.expires_in)
    const refreshExpiresIn = Number(response.refresh_expires_in)
    const refreshToken = response.refresh_token ?? previous?.refreshToken
    return new TokenSet({
      accessToken: response.access_token,
      tokenType: String(response.token_type ?? 'bearer').toLowerCase(),
      ...(Number.isFinite(expiresIn) && expiresIn > 0 ? { expiresAt: nowMs + expiresIn * 1000 } : {}),
      ...(refreshToken !== undefined ? { refreshToken } : {}),
      ...(Number.isFinite(refreshExpiresIn) && refreshExpiresIn > 0
        ? { refreshExpiresAt: nowMs + refreshExpiresIn * 1000 }
        : response.refresh_token === undefined && previous?.refreshExpiresAt !== undefined
          ? { refreshExpiresAt: previous.refreshExpiresAt }
          : {}),
      ...((response.id_token ?? previous?.idToken) !== undefined
        ? { idToken: response.id_token ?? previous?.idToken }
        : {}),
      ...((response.scope ?? previous?.scope) !== undefined
        ? { scope: response.scope ?? previous?.scope }
        : {}),
      ...(previous?.dpopKey !== undefined ? { dpopKey: previous.dpopKey } : {}),
      updatedAt: nowMs,
    } as TokenRecord)
  }

  /**
   * Wraps a stored record.
   *
   * @param record - A record from a {@link TokenStore}.
   * @returns The token set.
   * @example
   * ```ts
   * const stored = await store.get(key)
   * const tokens = stored && TokenSet.fromRecord(stored)
   * ```
   */
  static fromRecord(record: TokenRecord): TokenSet {
    return new TokenSet(record)
  }

  /** The access token, if any. */
  get accessToken(): string | undefined {
    return this.record.accessToken
  }

  /** The refresh token, if any. */
  get refreshToken(): string | undefined {
    return this.record.refreshToken
  }

  /**
   * Whether the access token is missing or expired at `nowMs`, counting `skewMs` of clock skew
   * against us. A token without a known expiry never counts as expired.
   *
   * @param nowMs - The current time (epoch ms).
   * @param skewMs - Treat the token as expired this much earlier (default 0).
   * @returns `true` when a new access token is needed.
   * @example
   * ```ts
   * tokens.isExpired(Date.now(), 30_000)
   * ```
   */
  isExpired(nowMs: number, skewMs = 0): boolean {
    if (this.record.accessToken === undefined) return true
    return this.record.expiresAt !== undefined && this.record.expiresAt - skewMs <= nowMs
  }

  /**
   * Whether the access token expires within `marginMs` of `nowMs`: the proactive-refresh test.
   *
   * @param nowMs - The current time (epoch ms).
   * @param marginMs - The margin (the session's default is 60 000).
   * @returns `true` when it is time to refresh.
   * @example
   * ```ts
   * if (tokens.expiresWithin(Date.now(), 60_000)) await refresh()
   * ```
   */
  expiresWithin(nowMs: number, marginMs: number): boolean {
    return this.isExpired(nowMs, marginMs)
  }

  /**
   * Whether the refresh token is known to have expired (only when the server said when).
   *
   * @param nowMs - The current time (epoch ms).
   * @returns `true` when a refresh cannot succeed.
   * @example
   * ```ts
   * if (!tokens.refreshToken || tokens.refreshExpired(Date.now())) await login()
   * ```
   */
  refreshExpired(nowMs: number): boolean {
    return this.record.refreshExpiresAt !== undefined && this.record.refreshExpiresAt <= nowMs
  }

  /**
   * The stored form, for a {@link TokenStore}.
   *
   * @returns A plain JSON record.
   * @example
   * ```ts
   * await store.set(key, tokens.toRecord())
   * ```
   */
  toRecord(): TokenRecord {
    return this.record
  }
}
