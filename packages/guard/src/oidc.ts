import type { JWTPayload } from 'jose'
import { sha256 } from './api-key.ts'
import { checkUrl, createDiscovery, describe, readJsonObject } from './discovery.ts'
import { DependencyError, GuardError } from './errors.ts'
import { remoteKeySource } from './jwks.ts'
import {
  authFromClaims,
  bearerMiddleware,
  createJwtVerifier,
  deepFreeze,
  invalid,
  type JwksOptions,
  type JwtValidationOptions,
  jwksOptions,
  nonNegative,
  positiveInteger,
  unavailable,
} from './jwt.ts'
import type { EntryOptions, FetchLike, SchemeMiddleware, SchemeOutcome } from './types.ts'

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

/** Options of {@link oidcAuth}. */
export interface OidcAuthOptions extends JwtValidationOptions, EntryOptions {
  /** The issuer: its discovery document supplies `jwks_uri` and `introspection_endpoint`, and tokens must name it. */
  readonly issuer: string
  /** Introspection for opaque tokens; without it, a token that is not a JWT is refused (401). */
  readonly introspection?: IntrospectionOptions
  /** JWKS caching, cooldown, timeout (also used for discovery) and stale-if-error. */
  readonly jwks?: JwksOptions
  /** The `fetch` for discovery, JWKS and introspection; default `globalThis.fetch`. */
  readonly fetch?: FetchLike
  /** Allow plain `http:` URLs on non-loopback hosts; default `false`. */
  readonly allowHttp?: boolean
  /** The `realm` of the `WWW-Authenticate: Bearer …` challenge. */
  readonly realm?: string
}

interface CacheEntry {
  readonly untilMs: number
  readonly outcome: SchemeOutcome
}

/**
 * Protects routes with OpenID Connect access tokens from one issuer, configured by discovery:
 * JWT access tokens are verified locally against the discovered `jwks_uri` (everything
 * {@link jwtAuth} does), and opaque tokens are checked with RFC 7662 token introspection.
 *
 * Introspection answers are cached by the token's SHA-256 (never the token itself) for
 * `cacheTtlMs`, never beyond the token's `exp`, in a bounded LRU; concurrent requests with the same
 * token share one call. `active: false`, a refresh token, a foreign `iss` or a missing audience
 * give 401 `invalid_token`; an unreachable endpoint gives 503 unless a cached answer decides.
 * Nothing redirects: an API answers 401, and logging in is the client's business.
 *
 * @typeParam Claims - Your claims' shape, for `c.var.auth.claims`.
 * @param options - `issuer`, `audience`, optional `introspection` client, and tuning.
 * @returns A middleware; its `scheme` property lets {@link guard} combine it with other schemes.
 * @throws GuardError `ERR_MISSING_OPTION`, `ERR_CONFLICTING_OPTIONS`, `ERR_INVALID_OPTION`,
 *   `ERR_INSECURE_URL`, as {@link jwtAuth}; `ERR_MISSING_OPTION` for an introspection client
 *   without id or secret.
 * @see https://www.rfc-editor.org/rfc/rfc7662
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { oidcAuth, type GuardEnv } from '@keyfob/guard'
 *
 * const app = new Hono<GuardEnv>()
 * app.use(
 *   '*',
 *   oidcAuth({
 *     issuer: 'https://idp.example',
 *     audience: 'https://api.example',
 *     introspection: { clientId: 'api', clientSecret: 'from-your-secret-store' },
 *   }),
 * )
 * ```
 */
export function oidcAuth<Claims extends Record<string, unknown> = JWTPayload>(
  options: OidcAuthOptions,
): SchemeMiddleware<Claims> {
  const owner = 'oidcAuth'
  if (options === null || typeof options !== 'object') {
    throw new GuardError('ERR_MISSING_OPTION', `${owner}: options are required (issuer and audience)`)
  }
  if (typeof options.issuer !== 'string' || options.issuer.length === 0) {
    throw new GuardError('ERR_MISSING_OPTION', `${owner}: issuer is required; discovery starts from it`)
  }
  if (options.waive?.includes('iss')) {
    throw new GuardError(
      'ERR_CONFLICTING_OPTIONS',
      `${owner}: the issuer cannot be waived: keys and introspection come from it`,
    )
  }
  const allowHttp = options.allowHttp ?? false
  const jwks = jwksOptions(options.jwks, owner)
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init))
  const discover = createDiscovery({
    issuer: options.issuer,
    fetch: fetchImpl,
    timeoutMs: jwks.timeoutMs,
    cooldownMs: jwks.cooldownMs,
    allowHttp,
    owner,
  })
  const getKey = remoteKeySource(
    async () => {
      const metadata = await discover()
      if (typeof metadata.jwks_uri !== 'string') {
        throw new DependencyError('discovery', `the discovery document of ${options.issuer} has no jwks_uri`)
      }
      return new URL(metadata.jwks_uri)
    },
    { ...jwks, fetch: options.fetch },
  )
  const verifier = createJwtVerifier(options, getKey, owner)
  const introspect = options.introspection
    ? createIntrospection(options, discover, fetchImpl, owner, allowHttp)
    : undefined
  return bearerMiddleware<Claims>(owner, options, async (token) => {
    if (looksLikeJwt(token) && !(introspect && options.introspection?.introspectJwts))
      return verifier.verify(token)
    if (!introspect) {
      return {
        ok: false,
        denial: invalid('opaque_token', 'the token is not a JWT and no introspection is configured'),
      }
    }
    return introspect(token)
  })
}

/** Three base64url parts whose first decodes to a JSON object with `alg`. */
function looksLikeJwt(token: string): boolean {
  const parts = token.split('.')
  if (parts.length !== 3) return false
  try {
    const header: unknown = JSON.parse(atob((parts[0] as string).replace(/-/g, '+').replace(/_/g, '/')))
    return typeof header === 'object' && header !== null && 'alg' in header
  } catch {
    return false
  }
}

function createIntrospection(
  options: OidcAuthOptions,
  discover: () => Promise<{ readonly introspection_endpoint?: string }>,
  fetchImpl: FetchLike,
  owner: string,
  allowHttp: boolean,
): (token: string) => Promise<SchemeOutcome> {
  const config = options.introspection as IntrospectionOptions
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
  const fixedEndpoint =
    config.endpoint !== undefined
      ? checkUrl(config.endpoint, 'introspection.endpoint', owner, allowHttp)
      : undefined
  const ttlMs = nonNegative(config.cacheTtlMs, 60_000, 'introspection.cacheTtlMs', owner)
  const maxEntries = positiveInteger(config.cacheMaxEntries, 10_000, 'introspection.cacheMaxEntries', owner)
  const timeoutMs = positiveInteger(config.timeoutMs, 5000, 'introspection.timeoutMs', owner)
  const now = options.now ?? Date.now
  const toleranceMs = (options.clockTolerance ?? 30) * 1000
  const audience =
    options.audience === undefined
      ? undefined
      : new Set(typeof options.audience === 'string' ? [options.audience] : options.audience)
  const scopeClaims = options.scopeClaims ?? ['scope', 'scp']
  const cache = new Map<string, CacheEntry>()
  const pending = new Map<string, Promise<SchemeOutcome>>()
  const basic = `Basic ${btoa(`${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`)}`

  const remember = (key: string, outcome: SchemeOutcome, expMs: number | undefined): void => {
    const untilMs = Math.min(now() + ttlMs, expMs ?? Number.POSITIVE_INFINITY)
    if (untilMs <= now()) return
    cache.delete(key)
    cache.set(key, { untilMs, outcome: deepFreeze(outcome) })
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string)
  }

  async function call(token: string): Promise<{ outcome: SchemeOutcome; expMs?: number | undefined }> {
    let endpoint = fixedEndpoint
    if (!endpoint) {
      const metadata = await discover()
      if (typeof metadata.introspection_endpoint !== 'string') {
        throw new DependencyError(
          'discovery',
          `the discovery document of ${options.issuer} has no introspection_endpoint`,
        )
      }
      endpoint = new URL(metadata.introspection_endpoint)
    }
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' })
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
    }
    if (authMethod === 'client_secret_basic') {
      headers.authorization = basic
    } else {
      body.set('client_id', config.clientId)
      body.set('client_secret', config.clientSecret)
    }
    let response: Response
    try {
      response = await fetchImpl(endpoint.href, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
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
    const expMs = typeof doc.exp === 'number' ? doc.exp * 1000 : undefined
    const hints = {
      ...(typeof doc.sub === 'string' ? { subject: doc.sub } : {}),
      ...(typeof doc.iss === 'string' ? { issuer: doc.iss } : {}),
    }
    if (!doc.active)
      return { outcome: { ok: false, denial: invalid('inactive', 'introspection: active is false') } }
    if (
      doc.token_type === 'refresh_token' ||
      (doc.token_use !== undefined && doc.token_use !== 'access_token')
    ) {
      return {
        outcome: { ok: false, denial: invalid('inactive', 'introspection: not an access token', hints) },
        expMs,
      }
    }
    if (doc.iss !== undefined && doc.iss !== options.issuer) {
      return {
        outcome: { ok: false, denial: invalid('bad_iss', 'introspection: unexpected iss', hints) },
        expMs,
      }
    }
    if (audience) {
      const aud = typeof doc.aud === 'string' ? [doc.aud] : Array.isArray(doc.aud) ? doc.aud : []
      if (!aud.some((a) => typeof a === 'string' && audience.has(a))) {
        return {
          outcome: {
            ok: false,
            denial: invalid('bad_aud', 'introspection: aud missing or unexpected', hints),
          },
          expMs,
        }
      }
    }
    if (expMs !== undefined && expMs + toleranceMs <= now()) {
      return {
        outcome: {
          ok: false,
          denial: invalid('expired', 'introspection: exp in the past', hints, 'the access token expired'),
        },
      }
    }
    if (typeof doc.nbf === 'number' && doc.nbf * 1000 - toleranceMs > now()) {
      return {
        outcome: { ok: false, denial: invalid('not_yet_valid', 'introspection: nbf in the future', hints) },
        expMs,
      }
    }
    const { active: _active, ...claims } = doc
    return { outcome: { ok: true, auth: authFromClaims('introspection', claims, scopeClaims) }, expMs }
  }

  return async function introspectToken(token: string): Promise<SchemeOutcome> {
    const key = btoa(String.fromCharCode(...(await sha256(token))))
    const hit = cache.get(key)
    if (hit) {
      if (hit.untilMs > now()) {
        cache.delete(key)
        cache.set(key, hit)
        return hit.outcome
      }
      cache.delete(key)
    }
    let flight = pending.get(key)
    if (!flight) {
      flight = call(token)
        .then(({ outcome, expMs }) => {
          remember(key, outcome, expMs)
          return outcome
        })
        .catch((error: unknown): SchemeOutcome => {
          if (error instanceof DependencyError) return { ok: false, denial: unavailable(error) }
          return {
            ok: false,
            denial: unavailable(new DependencyError('introspection', describe(error), { cause: error })),
          }
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
