/** RFC 6750 §3 responses: challenges, status codes and JSON bodies. @internal @module */
import type { Context } from 'hono'
import type { AuthInfo, Denial, GuardEvent, GuardEventHandler } from './types.ts'

/** Quotes a value for an auth-param (RFC 9110 §5.6.4), escaping `"` and `\`. */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`
}

/** `Bearer realm="api"` or `Bearer`. */
export function challengeOf(scheme: string, realm: string | undefined, extra: string[] = []): string {
  const params = [...(realm !== undefined ? [`realm=${quote(realm)}`] : []), ...extra]
  return params.length > 0 ? `${scheme} ${params.join(', ')}` : scheme
}

/** Adds the error attributes of a denial to a challenge. */
function withError(challenge: string, denial: Denial): string {
  const params: string[] = []
  if (denial.challengeError) {
    params.push(`error=${quote(denial.error)}`, `error_description=${quote(denial.description)}`)
  }
  if (denial.scope && denial.scope.length > 0) params.push(`scope=${quote(denial.scope.join(' '))}`)
  if (params.length === 0) return challenge
  return challenge.includes(' ') ? `${challenge}, ${params.join(', ')}` : `${challenge} ${params.join(', ')}`
}

/**
 * Writes a denial: the status, `WWW-Authenticate` (one challenge per scheme for 400/401/403),
 * `Retry-After` for 503, `Cache-Control: no-store`, and `{ error, error_description }`.
 */
export function deny(c: Context, denial: Denial, challenges: readonly string[]): Response {
  const headers = new Headers({
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  })
  if (denial.status === 503) {
    headers.set('retry-after', String(denial.retryAfterS ?? 5))
  } else if (challenges.length > 0) {
    // Errors go on the first (deciding) challenge; other schemes are offered bare.
    const [first, ...rest] = challenges as [string, ...string[]]
    headers.set('www-authenticate', [withError(first, denial), ...rest].join(', '))
  }
  if (denial.dpopNonce !== undefined) headers.set('dpop-nonce', denial.dpopNonce)
  const body: Record<string, unknown> = { error: denial.error, error_description: denial.description }
  if (denial.scope && denial.scope.length > 0) body.scope = denial.scope.join(' ')
  return c.body(JSON.stringify(body), denial.status, Object.fromEntries(headers))
}

/** Sends an event to a handler; a throwing handler never breaks the request. */
export function emit(
  onEvent: GuardEventHandler | undefined,
  c: Context,
  source: string,
  fields: Omit<GuardEvent, 'source' | 'method' | 'path'>,
): void {
  if (!onEvent) return
  try {
    onEvent({ source, method: c.req.method, path: c.req.path, ...fields }, c)
  } catch {
    // A logging hook must not turn a decision into a 500.
  }
}

/** The event of a denial. */
export function denialEvent(denial: Denial): Omit<GuardEvent, 'source' | 'method' | 'path'> {
  return {
    outcome: denial.status === 503 ? 'unavailable' : 'deny',
    reason: denial.reason,
    status: denial.status,
    ...(denial.dependency !== undefined ? { dependency: denial.dependency } : {}),
    ...(denial.detail !== undefined ? { detail: denial.detail } : {}),
    ...(denial.hints?.subject !== undefined ? { subject: denial.hints.subject } : {}),
    ...(denial.hints?.issuer !== undefined ? { issuer: denial.hints.issuer } : {}),
    ...(denial.hints?.kid !== undefined ? { kid: denial.hints.kid } : {}),
  }
}

/** The event of an accepted request. */
export function allowEvent(
  auth: AuthInfo<Record<string, unknown>>,
): Omit<GuardEvent, 'source' | 'method' | 'path'> {
  return {
    outcome: 'allow',
    reason: 'ok',
    ...(auth.subject !== undefined ? { subject: auth.subject } : {}),
    ...(auth.issuer !== undefined ? { issuer: auth.issuer } : {}),
    ...(auth.kid !== undefined ? { kid: auth.kid } : {}),
    ...(auth.keyId !== undefined ? { keyId: auth.keyId } : {}),
  }
}

/** The challenge scheme name matching how a request was authenticated. */
export function challengeSchemeFor(auth: AuthInfo<Record<string, unknown>> | undefined): string {
  return auth?.scheme === 'apiKey' ? 'ApiKey' : 'Bearer'
}

/** A 401 for a missing credential: RFC 6750 §3.1 says no `error` attribute. */
export const MISSING: Denial = {
  status: 401,
  error: 'missing_credentials',
  description: 'authentication required',
  reason: 'missing',
  challengeError: false,
}
