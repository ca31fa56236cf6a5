/** Reading an access token from `Authorization` (RFC 6750 §2.1, RFC 9449 §7.1). @internal @module */
import type { Context } from 'hono'
import type { Denial } from './types.ts'

/** RFC 6750 §2.1 `b64token` (RFC 9449 §7.1 uses the same `token68` syntax for `DPoP`). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/** The scheme is case-insensitive (RFC 9110 §11.1), so `bearer` and `BEARER` are `Bearer`. */
const BEARER = /^bearer(?: +|$)/i
/** `Bearer` or `DPoP`, for a scheme that accepts DPoP. */
const BEARER_OR_DPOP = /^(bearer|dpop)(?: +|$)/i

/** The schemes an access token may come with. */
export type TokenScheme = 'Bearer' | 'DPoP'

/** Whether the request carries an `Authorization: Bearer …` (or, with `dpop`, `DPoP …`) header, possibly malformed. */
export function hasBearer(c: Context, dpop = false): boolean {
  const value = c.req.header('authorization')
  if (value === undefined) return false
  const scheme = dpop ? BEARER_OR_DPOP : BEARER
  if (!value.includes(',')) return scheme.test(value.trimStart())
  // Two headers arrive joined by ", "; if any of them is ours, the request meant one.
  return value.split(',').some((part) => scheme.test(part.trim()))
}

/**
 * The token of `Authorization: Bearer <token>` (or, with `dpop`, `DPoP <token>`) and its scheme,
 * or a denial: 400 `invalid_request` when the header is malformed or repeated (RFC 6750 §3.1),
 * 401 `invalid_token` when it is too long. `seen(token)` true skips the `b64token` check, for a
 * token that already passed it (a cached one: the check reads every character of it).
 */
export function readBearer(
  c: Context,
  maxLength: number,
  dpop = false,
  seen?: (token: string) => boolean,
): { token: string; scheme: TokenScheme } | { denial: Denial } {
  const value = (c.req.header('authorization') ?? '').trim()
  if (value.includes(',')) {
    return {
      denial: invalidRequest('the request carries more than one Authorization header or credential'),
    }
  }
  const match = (dpop ? BEARER_OR_DPOP : BEARER).exec(value)
  if (!match) {
    return {
      denial: invalidRequest(
        `the Authorization header is not a ${dpop ? 'Bearer or DPoP' : 'Bearer'} credential`,
      ),
    }
  }
  // Only the Bearer-or-DPoP pattern has a group; `dpop` is its only 4-letter match.
  const scheme: TokenScheme = match[1]?.length === 4 ? 'DPoP' : 'Bearer'
  const token = value.slice(match[0].length)
  if (token.length === 0) return { denial: invalidRequest(`the ${scheme} credential is empty`, scheme) }
  if (token.length > maxLength) {
    return {
      denial: {
        status: 401,
        error: 'invalid_token',
        description: 'the access token is too large',
        reason: 'too_large',
        challengeError: true,
        scheme,
        detail: `token of ${token.length} characters, limit ${maxLength}`,
      },
    }
  }
  if (!seen?.(token) && !B64TOKEN.test(token)) {
    return {
      denial: invalidRequest(`the ${scheme} credential is not a valid b64token (RFC 6750 §2.1)`, scheme),
    }
  }
  return { token, scheme }
}

function invalidRequest(description: string, scheme?: TokenScheme): Denial {
  return {
    status: 400,
    error: 'invalid_request',
    description,
    reason: 'malformed',
    challengeError: true,
    ...(scheme !== undefined ? { scheme } : {}),
  }
}
