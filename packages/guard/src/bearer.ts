/** Reading a bearer token from `Authorization` (RFC 6750 §2.1). @internal @module */
import type { Context } from 'hono'
import type { Denial } from './types.ts'

/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/** The scheme is case-insensitive (RFC 9110 §11.1), so `bearer` and `BEARER` are `Bearer`. */
const BEARER = /^bearer(?: +|$)/i

/** Whether the request carries an `Authorization: Bearer …` header (possibly malformed). */
export function hasBearer(c: Context): boolean {
  const value = c.req.header('authorization')
  if (value === undefined) return false
  if (!value.includes(',')) return BEARER.test(value.trimStart())
  // Two headers arrive joined by ", "; if any of them is Bearer, the request meant one.
  return value.split(',').some((part) => BEARER.test(part.trim()))
}

/**
 * The token of `Authorization: Bearer <token>`, or a denial: 400 `invalid_request` when the header
 * is malformed or repeated (RFC 6750 §3.1), 401 `invalid_token` when it is too long.
 */
export function readBearer(c: Context, maxLength: number): { token: string } | { denial: Denial } {
  const value = (c.req.header('authorization') ?? '').trim()
  if (value.includes(',')) {
    return {
      denial: invalidRequest('the request carries more than one Authorization header or credential'),
    }
  }
  const match = BEARER.exec(value)
  if (!match) return { denial: invalidRequest('the Authorization header is not a Bearer credential') }
  const token = value.slice(match[0].length)
  if (token.length === 0) return { denial: invalidRequest('the Bearer credential is empty') }
  if (token.length > maxLength) {
    return {
      denial: {
        status: 401,
        error: 'invalid_token',
        description: 'the access token is too large',
        reason: 'too_large',
        challengeError: true,
        detail: `token of ${token.length} characters, limit ${maxLength}`,
      },
    }
  }
  if (!B64TOKEN.test(token)) {
    return { denial: invalidRequest('the Bearer credential is not a valid b64token (RFC 6750 §2.1)') }
  }
  return { token }
}

function invalidRequest(description: string): Denial {
  return { status: 400, error: 'invalid_request', description, reason: 'malformed', challengeError: true }
}
