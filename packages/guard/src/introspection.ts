/** RFC 7662 token introspection: option checks, the request, the response checks, and a cache. @internal @module */
import { BoundedCache } from './cache.ts'
import { digestKey } from './digest.ts'
import { checkUrl, describe, readJsonObject } from './discovery.ts'
import { DependencyError, GuardError } from './errors.ts'
import { authFromClaims, invalid, unavailable, wrongAudience } from './jwt.ts'
import { nonNegative, positiveInteger } from './options.ts'
import type { FetchLike, SchemeOutcome } from './types.ts'

/** RFC 7662 introspection for opaque access tokens. */
export interface IntrospectionOptions {
  /** The client id this API authenticates to the introspection endpoint with. */
  readonly clientId: string
  /** Its secret. Never logged, never part of an error. */
  readonly clientSecret: string
  /** How to send the credentials; default `client_secret_basic`. */
  readonly authMethod?: 'client_secret_basic' | 'client_secret_post'
  /** The endpoint; default the discovery document's `introspection_endpoint`. */
  readonly endpoint?: string | URL
  /** Cache an answer for at most this long (and never past the token's `exp`); default 60 000 ms. */
  readonly cacheTtlMs?: number
  /** Cache at most this many answers (least recently used dropped first); default 10 000. */
  readonly cacheMaxEntries?: number
  /** Abort an introspection request after this long; default 5000 ms. */
  readonly timeoutMs?: number
  /** Introspect JWTs too (to see revocations) instead of validating them locally; default `false`. */
  readonly introspectJwts?: boolean
}

/** What the RFC 7662 checks compare an introspection response with. @internal */
export interface IntrospectionExpectations {
  /** The issuer the response's `iss` (when present) must equal. */
  readonly issuer: string
  /** Accepted audiences; `undefined` when `aud` is waived. */
  readonly audience: ReadonlySet<string> | undefined
  /** Tolerated clock skew for `exp` and `nbf`, in ms. */
  readonly toleranceMs: number
  /** The claims that carry scopes. */
  readonly scopeClaims: readonly string[]
}

/** Checked introspection options. @internal */
export interface IntrospectionSettings extends IntrospectionExpectations {
  readonly clientId: string
  readonly clientSecret: string
  readonly authMethod: 'client_secret_basic' | 'client_secret_post'
  readonly endpoint: URL | undefined
  readonly ttlMs: number
  readonly maxEntries: number
  readonly timeoutMs: number
  readonly now: () => number
}

/**
 * Checks the `introspection` options of `oidcAuth` once, at startup.
 * @throws GuardError `ERR_MISSING_OPTION` without client id or secret; `ERR_INVALID_OPTION` for
 *   a bad method or number; `ERR_INSECURE_URL` for a plain-http endpoint off loopback.
 * @internal
 */
export function introspectionSettings(
  config: IntrospectionOptions,
  validation: {
    readonly issuer: string
    readonly audience?: string | readonly string[]
    readonly clockTolerance?: number
    readonly scopeClaims?: readonly string[]
    readonly now?: () => number
  },
  owner: string,
  allowHttp: boolean,
): IntrospectionSettings {
  if (typeof config.clientId !== 'string' || config.clientId.length === 0) {
    throw new GuardError('ERR_MISSING_OPTION', `${owner}: introspection.clientId is required`)
  }
  if (typeof config.clientSecret !== 'string' || config.clientSecret.length === 0) {
    throw new GuardError(
      'ERR_MISSING_OPTION',
      `${owner}: introspection.clientSecret is required (and is never logged)`,
    )
  }
  const authMethod = config.authMethod ?? 'client_secret_basic'
  if (authMethod !== 'client_secret_basic' && authMethod !== 'client_secret_post') {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: introspection.authMethod must be client_secret_basic or client_secret_post`,
    )
  }
  const audience = validation.audience
  return {
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    authMethod,
    endpoint:
      config.endpoint !== undefined
        ? checkUrl(config.endpoint, 'introspection.endpoint', owner, allowHttp)
        : undefined,
    ttlMs: nonNegative(config.cacheTtlMs, 60_000, 'introspection.cacheTtlMs', owner),
    maxEntries: positiveInteger(config.cacheMaxEntries, 10_000, 'introspection.cacheMaxEntries', owner),
    timeoutMs: positiveInteger(config.timeoutMs, 5000, 'introspection.timeoutMs', owner),
    now: validation.now ?? Date.now,
    issuer: validation.issuer,
    audience:
      audience === undefined ? undefined : new Set(typeof audience === 'string' ? [audience] : audience),
    toleranceMs: nonNegative(validation.clockTolerance, 30, 'clockTolerance', owner) * 1000,
    scopeClaims: validation.scopeClaims ?? ['scope', 'scp'],
  }
}

/**
 * POSTs a token to the introspection endpoint with the client's credentials and returns the
 * response's JSON object.
 * @throws DependencyError `introspection` for a network error, a timeout, a non-200 answer, or a
 *   body that is not a JSON object with a boolean `active`.
 * @internal
 */
export async function requestIntrospection(
  settings: IntrospectionSettings,
  endpoint: URL,
  token: string,
  fetchImpl: FetchLike,
): Promise<Record<string, unknown>> {
  const body = new URLSearchParams({ token, token_type_hint: 'access_token' })
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
  }
  if (settings.authMethod === 'client_secret_basic') {
    headers.authorization = `Basic ${btoa(`${formEncode(settings.clientId)}:${formEncode(settings.clientSecret)}`)}`
  } else {
    body.set('client_id', settings.clientId)
    body.set('client_secret', settings.clientSecret)
  }
  let response: Response
  try {
    response = await fetchImpl(endpoint.href, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(settings.timeoutMs),
    })
  } catch (error) {
    throw new DependencyError('introspection', `introspection request failed: ${describe(error)}`, {
      cause: error,
    })
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {})
    throw new DependencyError(
      'introspection',
      `the introspection endpoint answered ${response.status}${response.status === 401 ? ' (check introspection.clientId and clientSecret)' : ''}`,
    )
  }
  let doc: Record<string, unknown>
  try {
    doc = await readJsonObject(response, 256 * 1024)
  } catch (error) {
    throw new DependencyError(
      'introspection',
      `the introspection response is not usable: ${describe(error)}`,
      {
        cause: error,
      },
    )
  }
  if (typeof doc.active !== 'boolean') {
    throw new DependencyError('introspection', 'the introspection response has no boolean "active"')
  }
  return doc
}

/**
 * The RFC 7662 §2.2 checks of an introspection response: `active`, an access token (not a
 * refresh token), `iss`, `aud`, `exp` and `nbf` within the tolerance. Returns the outcome and
 * until when (the token's `exp`) it may be cached.
 * @internal
 */
export function checkIntrospection(
  doc: Record<string, unknown>,
  expect: IntrospectionExpectations,
  nowMs: number,
): { readonly outcome: SchemeOutcome; readonly expMs?: number | undefined } {
  const expMs = typeof doc.exp === 'number' ? doc.exp * 1000 : undefined
  const hints = {
    ...(typeof doc.sub === 'string' ? { subject: doc.sub } : {}),
    ...(typeof doc.iss === 'string' ? { issuer: doc.iss } : {}),
  }
  const refuse = (denial: ReturnType<typeof invalid>) => ({ outcome: { ok: false as const, denial }, expMs })
  if (!doc.active)
    return { outcome: { ok: false, denial: invalid('inactive', 'introspection: active is false') } }
  if (
    doc.token_type === 'refresh_token' ||
    (doc.token_use !== undefined && doc.token_use !== 'access_token')
  ) {
    return refuse(invalid('inactive', 'introspection: not an access token', hints))
  }
  if (doc.iss !== undefined && doc.iss !== expect.issuer) {
    return refuse(invalid('bad_iss', 'introspection: unexpected iss', hints))
  }
  if (expect.audience) {
    const aud = typeof doc.aud === 'string' ? [doc.aud] : Array.isArray(doc.aud) ? doc.aud : []
    if (!aud.some((a) => typeof a === 'string' && expect.audience?.has(a))) {
      return refuse(wrongAudience([...expect.audience], 'introspection: aud missing or unexpected', hints))
    }
  }
  if (expMs !== undefined && expMs + expect.toleranceMs <= nowMs) {
    return {
      outcome: {
        ok: false,
        denial: invalid('expired', 'introspection: exp in the past', hints, 'the access token expired'),
      },
    }
  }
  if (typeof doc.nbf === 'number' && doc.nbf * 1000 - expect.toleranceMs > nowMs) {
    return refuse(invalid('not_yet_valid', 'introspection: nbf in the future', hints))
  }
  const { active: _active, ...claims } = doc
  return { outcome: { ok: true, auth: authFromClaims('introspection', claims, expect.scopeClaims) }, expMs }
}

/**
 * Introspects tokens with a cache keyed by the token's SHA-256 (never the token), bounded in size
 * and in time (`ttlMs`, never past `exp`), and one call in flight per token. An unreachable
 * endpoint becomes a 503 denial.
 * @internal
 */
export function createIntrospection(
  settings: IntrospectionSettings,
  discover: () => Promise<{ readonly introspection_endpoint?: string }>,
  fetchImpl: FetchLike,
): (token: string) => Promise<SchemeOutcome> {
  const cache = new BoundedCache<SchemeOutcome>(settings.maxEntries)
  const pending = new Map<string, Promise<SchemeOutcome>>()
  const { now } = settings

  async function endpoint(): Promise<URL> {
    if (settings.endpoint) return settings.endpoint
    const metadata = await discover()
    if (typeof metadata.introspection_endpoint !== 'string') {
      throw new DependencyError(
        'discovery',
        `the discovery document of ${settings.issuer} has no introspection_endpoint`,
      )
    }
    return new URL(metadata.introspection_endpoint)
  }

  return async function introspectToken(token: string): Promise<SchemeOutcome> {
    const key = await digestKey(token)
    const hit = cache.get(key, now())
    if (hit) return hit
    let flight = pending.get(key)
    if (!flight) {
      flight = endpoint()
        .then((url) => requestIntrospection(settings, url, token, fetchImpl))
        .then((doc) => {
          const { outcome, expMs } = checkIntrospection(doc, settings, now())
          const nowMs = now()
          cache.set(key, outcome, Math.min(nowMs + settings.ttlMs, expMs ?? Number.POSITIVE_INFINITY), nowMs)
          return outcome
        })
        .catch((error: unknown): SchemeOutcome => {
          const dependency =
            error instanceof DependencyError
              ? error
              : new DependencyError('introspection', describe(error), { cause: error })
          return { ok: false, denial: unavailable(dependency) }
        })
        .finally(() => pending.delete(key))
      pending.set(key, flight)
    }
    return flight
  }
}

/** `application/x-www-form-urlencoded` encoding of client credentials (RFC 6749 §2.3.1). */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+')
}
