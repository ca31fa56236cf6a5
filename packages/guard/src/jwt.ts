/** `jwtAuth`: bearer JWTs verified with jose against a JWKS, discovery or configured keys. @module */
import type { Context } from 'hono'
import {
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type JWTVerifyResult,
  jwtVerify,
} from 'jose'
import { ASYMMETRIC_ALGORITHMS, type AsymmetricAlgorithm } from './algorithms.ts'
import { hasBearer, readBearer } from './bearer.ts'
import { BoundedCache } from './cache.ts'
import { checkUrl, createDiscovery, describe } from './discovery.ts'
import { createDpopVerifier, type DpopOptions, type DpopVerifier } from './dpop.ts'
import { createEntry } from './entry.ts'
import { DependencyError, GuardError } from './errors.ts'
import { type JwksOptions, type KeySource, localKeySource, remoteKeySource } from './jwks.ts'
import { hasEntryOptions, listOf, nonNegative, positiveInteger } from './options.ts'
import { challengeOf, quote } from './respond.ts'
import type {
  AuthInfo,
  Denial,
  EntryOptions,
  FetchLike,
  GuardReason,
  GuardScheme,
  SchemeMiddleware,
  SchemeOutcome,
} from './types.ts'

export type { JwksOptions } from './jwks.ts'

/** The asymmetric JWS algorithms the guard verifies. `none` and `HS*` are never accepted. */
export type JwtAlgorithm = AsymmetricAlgorithm

/** The default allow-list. */
export const DEFAULT_ALGORITHMS: readonly JwtAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA']

/** A required check that can be explicitly switched off with `waive`. */
export type WaivableCheck = 'iss' | 'aud' | 'exp'

/** How the JWT `typ` header is checked. */
export type TypPolicy = 'lax' | 'at+jwt' | (string & {})

/** Size and lifetime of the verified-token cache of {@link JwtValidationOptions.cache}. */
export interface VerifiedTokenCacheOptions {
  /** At most this many tokens are remembered (least recently used dropped first); default 1000. */
  readonly maxEntries?: number
  /** A token is remembered at most this long (and never past its `exp`); default 60 000 ms. */
  readonly ttlMs?: number
}

/** Claim checks shared by {@link jwtAuth} and {@link oidcAuth}. */
export interface JwtValidationOptions {
  /**
   * The audience this API is (`aud` must contain one of them). Required unless `waive`
   * includes `'aud'`.
   */
  readonly audience?: string | readonly string[]
  /** Accepted algorithms; default `['RS256', 'PS256', 'ES256', 'EdDSA']`. Only asymmetric ones. */
  readonly algorithms?: readonly JwtAlgorithm[]
  /**
   * Seconds of clock skew tolerated for `exp`, `nbf` and `iat`; default 30. A token whose `iat`
   * lies further than this in the future is refused (`not_yet_valid`), with or without
   * `maxTokenAge`, as RFC 9068 validators do.
   */
  readonly clockTolerance?: number
  /** More claims that must be present (beyond `iss`, `aud`, `exp`), e.g. `['sub', 'jti']`. */
  readonly requiredClaims?: readonly string[]
  /** Reject tokens whose `iat` is older than this many seconds. */
  readonly maxTokenAge?: number
  /**
   * `lax` (default): `typ` may be absent, `JWT` or `at+jwt`; `at+jwt`: RFC 9068 access tokens
   * only; any other string: exactly that type. A token of another type (`dpop+jwt`,
   * `logout+jwt`, …) is refused in every mode.
   */
  readonly typ?: TypPolicy
  /**
   * Checks to switch off explicitly: `'iss'` (accept any issuer), `'aud'` (any audience), `'exp'`
   * (tokens without `exp`; an `exp` that is present is still enforced). Each one widens what is
   * accepted: waive only what your IdP cannot provide.
   */
  readonly waive?: readonly WaivableCheck[]
  /** Claims that carry scopes; default `['scope', 'scp']` (a space-separated string or an array). */
  readonly scopeClaims?: readonly string[]
  /** The longest token accepted, in characters; default 8192. */
  readonly maxTokenLength?: number
  /** The clock (epoch ms) used for `exp`/`nbf`/`iat`; default `Date.now`. */
  readonly now?: () => number
  /**
   * Remember verified tokens (the exact token string → its verified claims) so a client that
   * reuses its access token does not pay a signature check per request, like `@fastify/jwt`'s
   * cache. An entry lives at most `ttlMs` (default 60 000) and never past the token's `exp` (or
   * `iat + maxTokenAge`); at most `maxEntries` (default 1000) are kept, least recently used
   * dropped first. Only successes are cached. Each entry remembers the `kid` that verified it:
   * once a refetched JWKS no longer holds that key, the entry is dropped and the token verified
   * again (and refused). `false` turns it off.
   */
  readonly cache?: VerifiedTokenCacheOptions | false
}

/** Options of {@link jwtAuth}: where keys come from, which claims are checked, and entry options. */
export interface JwtAuthOptions extends JwtValidationOptions, EntryOptions {
  /** The JWKS URL. */
  readonly jwksUrl?: string | URL
  /**
   * The expected `iss`. Without `jwksUrl` or `keys`, a single issuer is also where keys come from:
   * its discovery document (OIDC Discovery, then RFC 8414) names the JWKS. Required unless
   * `waive` includes `'iss'`.
   */
  readonly issuer?: string | readonly string[]
  /** Public keys given directly, as a JWK Set or an array of JWKs (no remote fetch at all). */
  readonly keys?: JSONWebKeySet | readonly JWK[]
  /** JWKS caching, cooldown, timeout and stale-if-error. */
  readonly jwks?: JwksOptions
  /** The `fetch` for JWKS and discovery; default `globalThis.fetch`. */
  readonly fetch?: FetchLike
  /** Allow plain `http:` JWKS and discovery URLs on non-loopback hosts; default `false`. */
  readonly allowHttp?: boolean
  /** The `realm` of the `WWW-Authenticate: Bearer …` challenge. */
  readonly realm?: string
  /**
   * The URL of this resource's RFC 9728 metadata (see {@link protectedResourceMetadata}): sent as
   * `resource_metadata="…"` in every `WWW-Authenticate: Bearer` challenge, so a client can find
   * the authorization server from the resource.
   */
  readonly resourceMetadata?: string | URL
  /**
   * Accept DPoP (RFC 9449): `Authorization: DPoP <token>` with a `DPoP` proof header, verified
   * against the key the token is bound to (`cnf.jkt`): signature, `htm`/`htu`/`ath`, `iat`
   * window, `jti` replay, optional server nonces; `required: true` refuses `Bearer` altogether.
   * Challenges then offer `DPoP algs="…"` too. Without it, only `Bearer` is read, and a token
   * bound to a key is refused either way (§7.2).
   */
  readonly dpop?: DpopOptions
}

/** A configured JWT verifier: the part {@link jwtAuth} and {@link oidcAuth} share. @internal */
export interface JwtVerifier {
  verify(token: string): Promise<SchemeOutcome>
  /** Whether this exact token was verified before (so its syntax is known to be valid). */
  seen(token: string): boolean
}

/** Validates the claim options and builds a verifier over a key source. @internal */
export function createJwtVerifier(
  options: JwtValidationOptions & { readonly issuer?: string | readonly string[] },
  keys: KeySource,
  owner: string,
): JwtVerifier {
  const waive = new Set<string>(options.waive ?? [])
  for (const w of waive) {
    if (w !== 'iss' && w !== 'aud' && w !== 'exp') {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: waive may hold 'iss', 'aud' and 'exp', got ${JSON.stringify(w)}`,
      )
    }
  }
  const issuers = listOf(options.issuer, 'issuer', owner)
  if (issuers === undefined && !waive.has('iss')) {
    throw new GuardError(
      'ERR_MISSING_OPTION',
      `${owner}: issuer is required (the expected iss claim); to accept tokens from any issuer, say so with waive: ['iss']`,
    )
  }
  if (issuers !== undefined && waive.has('iss')) {
    throw new GuardError(
      'ERR_CONFLICTING_OPTIONS',
      `${owner}: issuer is set but waive includes 'iss'; drop one`,
    )
  }
  const audience = listOf(options.audience, 'audience', owner)
  if (audience === undefined && !waive.has('aud')) {
    throw new GuardError(
      'ERR_MISSING_OPTION',
      `${owner}: audience is required (the aud claim that names this API), so a token minted for another service is refused; to accept any audience, say so with waive: ['aud']`,
    )
  }
  if (audience !== undefined && waive.has('aud')) {
    throw new GuardError(
      'ERR_CONFLICTING_OPTIONS',
      `${owner}: audience is set but waive includes 'aud'; drop one`,
    )
  }
  const algorithms = checkAlgorithms(options.algorithms, owner)
  const clockTolerance = nonNegative(options.clockTolerance, 30, 'clockTolerance', owner)
  const maxTokenAge =
    options.maxTokenAge === undefined ? undefined : nonNegative(options.maxTokenAge, 0, 'maxTokenAge', owner)
  const maxTokenLength = positiveInteger(options.maxTokenLength, 8192, 'maxTokenLength', owner)
  const requiredClaims = listOf(options.requiredClaims, 'requiredClaims', owner) ?? []
  const scopeClaims = listOf(options.scopeClaims, 'scopeClaims', owner) ?? ['scope', 'scp']
  const typ = options.typ ?? 'lax'
  if (typeof typ !== 'string' || typ.length === 0) {
    throw new GuardError('ERR_INVALID_OPTION', `${owner}: typ must be 'lax', 'at+jwt' or a media type`)
  }
  const now = options.now ?? Date.now
  if (typeof now !== 'function')
    throw new GuardError('ERR_INVALID_OPTION', `${owner}: now must be a function`)
  const cacheOptions = options.cache === false ? undefined : (options.cache ?? {})
  const cache =
    cacheOptions === undefined
      ? undefined
      : new VerifiedTokens(
          positiveInteger(cacheOptions.maxEntries, 1000, 'cache.maxEntries', owner),
          nonNegative(cacheOptions.ttlMs, 60_000, 'cache.ttlMs', owner),
          keys,
        )

  const verifyOptions: Omit<JWTVerifyOptions, 'currentDate'> = {
    algorithms: [...algorithms],
    clockTolerance,
    requiredClaims: [...(waive.has('exp') ? [] : ['exp']), ...requiredClaims],
    ...(issuers !== undefined ? { issuer: [...issuers] } : {}),
    ...(audience !== undefined ? { audience: [...audience] } : {}),
    ...(maxTokenAge !== undefined ? { maxTokenAge } : {}),
    ...(typ !== 'lax' ? { typ } : {}),
  }
  const boundedKid: JWTVerifyGetKey = (header, token) => {
    if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > 256)) {
      throw new errors.JWSInvalid('kid is not a string of at most 256 characters')
    }
    return keys.getKey(header, token)
  }

  return {
    seen: (token) => cache?.seen(token) ?? false,
    async verify(token: string): Promise<SchemeOutcome> {
      if (token.length > maxTokenLength) {
        return {
          ok: false,
          denial: invalid('too_large', `token of ${token.length} characters, limit ${maxTokenLength}`),
        }
      }
      const nowMs = now()
      const hit = cache?.get(token, nowMs)
      if (hit) return { ok: true, auth: hit }
      // jose checks the alg allow-list before it asks for a key, so `none` and `HS*` never cost a
      // JWKS fetch; the key lookup below refuses absurd `kid`s before any lookup.
      let result: JWTVerifyResult
      try {
        result = await jwtVerify(token, boundedKid, { ...verifyOptions, currentDate: new Date(nowMs) })
      } catch (error) {
        return { ok: false, denial: denialFor(error, hintsOf(token), audience) }
      }
      const { payload, protectedHeader: header } = result
      // jose checks a future `iat` only with maxTokenAge; the clock tolerance covers it always.
      if (typeof payload.iat === 'number' && payload.iat - clockTolerance > nowMs / 1000) {
        return {
          ok: false,
          denial: invalid(
            'not_yet_valid',
            `iat ${payload.iat} is more than ${clockTolerance} s in the future`,
            hintsOf(token),
            'the access token is not valid yet',
          ),
        }
      }
      if (typ === 'lax' && header.typ !== undefined && !LAX_TYPES.has(String(header.typ).toLowerCase())) {
        return {
          ok: false,
          denial: invalid(
            'bad_typ',
            `typ ${JSON.stringify(String(header.typ)).slice(0, 60)}`,
            hintsOf(token),
          ),
        }
      }
      const auth = authFromClaims('jwt', payload, scopeClaims, header.kid)
      if (cache) {
        let untilMs = nowMs + cache.ttlMs
        if (typeof payload.exp === 'number') untilMs = Math.min(untilMs, payload.exp * 1000)
        if (maxTokenAge !== undefined && typeof payload.iat === 'number') {
          untilMs = Math.min(untilMs, (payload.iat + maxTokenAge) * 1000)
        }
        cache.set(token, auth, header.kid, untilMs, nowMs)
      }
      return { ok: true, auth }
    },
  }
}

/**
 * How many characters from its end a verified token is filed under. A `Map` lookup hashes its key,
 * and hashing a whole token (hundreds to thousands of characters, a new string on every request)
 * cost more than the rest of a cache hit; the end of a signature is as unpredictable as all of it.
 * Entries keep the whole token and a hit needs it to match exactly, so two tokens ending alike only
 * take each other's place.
 */
const KEY_LENGTH = 64

function keyOf(token: string): string {
  return token.length > KEY_LENGTH ? token.slice(-KEY_LENGTH) : token
}

/**
 * Verified tokens, by the exact token string, with the `kid` that verified each. A hit is only
 * served while that key is still in the key set: when a refetched JWKS (a new object from jose)
 * no longer holds the `kid` (or the token had none), the entry is dropped and the token is
 * verified again.
 */
class VerifiedTokens {
  readonly #cache: BoundedCache<{
    readonly token: string
    readonly auth: AuthInfo<Record<string, unknown>>
    readonly kid: string | undefined
    readonly keySet: number
  }>
  readonly #keys: KeySource
  readonly ttlMs: number
  #set: object | undefined
  #generation = 0
  #kids: ReadonlySet<string> = new Set()

  constructor(maxEntries: number, ttlMs: number, keys: KeySource) {
    this.#cache = new BoundedCache(maxEntries)
    this.ttlMs = ttlMs
    this.#keys = keys
  }

  /** The generation of the current key set, recomputing its `kid`s when jose replaced it. */
  #current(): number {
    const set = this.#keys.current()
    if (set !== this.#set) {
      this.#set = set
      this.#generation++
      this.#kids = new Set(
        (set?.keys ?? []).map((k) => k.kid).filter((kid): kid is string => typeof kid === 'string'),
      )
    }
    return this.#generation
  }

  get(token: string, nowMs: number): AuthInfo<Record<string, unknown>> | undefined {
    const key = keyOf(token)
    const entry = this.#cache.get(key, nowMs)
    if (entry === undefined || entry.token !== token) return undefined
    const generation = this.#current()
    if (entry.keySet === generation) return entry.auth
    if (entry.kid === undefined || !this.#kids.has(entry.kid)) {
      this.#cache.delete(key)
      return undefined
    }
    return entry.auth
  }

  /** Whether `token` was verified once (it may have expired since): its syntax needs no second look. */
  seen(token: string): boolean {
    return this.#cache.peek(keyOf(token))?.token === token
  }

  set(
    token: string,
    auth: AuthInfo<Record<string, unknown>>,
    kid: string | undefined,
    untilMs: number,
    nowMs: number,
  ): void {
    if (this.ttlMs === 0) return
    this.#cache.set(keyOf(token), { token, auth, kid, keySet: this.#current() }, untilMs, nowMs)
  }
}

/** Unverified `sub`, `iss` and `kid` of a refused token, for the event only. */
function hintsOf(token: string): Denial['hints'] {
  try {
    const header = decodeProtectedHeader(token)
    const claims = decodeJwt(token)
    return {
      ...(typeof claims.sub === 'string' ? { subject: claims.sub.slice(0, 256) } : {}),
      ...(typeof claims.iss === 'string' ? { issuer: claims.iss.slice(0, 256) } : {}),
      ...(typeof header.kid === 'string' ? { kid: header.kid.slice(0, 256) } : {}),
    }
  } catch {
    return {}
  }
}

const LAX_TYPES: ReadonlySet<string> = new Set(['jwt', 'at+jwt', 'application/jwt', 'application/at+jwt'])

/** Turns any verification failure into a 401 (or a 503 for an unreachable JWKS); never a 500. */
function denialFor(error: unknown, hints: Denial['hints'], audience?: readonly string[]): Denial {
  if (error instanceof DependencyError) {
    return unavailable(error, hints)
  }
  const detail = describe(error)
  if (error instanceof errors.JWTExpired) return invalid('expired', detail, hints, 'the access token expired')
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reason: GuardReason =
      error.claim === 'nbf' || error.claim === 'iat'
        ? 'not_yet_valid'
        : error.claim === 'iss'
          ? 'bad_iss'
          : error.claim === 'aud'
            ? 'bad_aud'
            : error.claim === 'typ'
              ? 'bad_typ'
              : 'bad_claim'
    if (reason === 'bad_aud' && audience !== undefined) return wrongAudience(audience, detail, hints)
    return invalid(
      reason,
      detail,
      hints,
      reason === 'not_yet_valid' ? 'the access token is not valid yet' : undefined,
    )
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return invalid('bad_signature', detail, hints)
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return invalid('bad_alg', detail, hints)
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return invalid('unknown_kid', detail, hints)
  }
  return invalid('malformed', detail, hints)
}

/** A 503 for a dependency that could not answer. @internal */
export function unavailable(error: DependencyError, hints?: Denial['hints']): Denial {
  return {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'the authorization service is unavailable; try again later',
    reason:
      error.dependency === 'discovery'
        ? 'discovery_unavailable'
        : error.dependency === 'introspection'
          ? 'introspection_unavailable'
          : 'jwks_unavailable',
    challengeError: false,
    dependency: error.dependency,
    retryAfterS: 5,
    detail: `${error.message}${error.cause ? ` (${describe(error.cause)})` : ''}`,
    ...(hints ? { hints } : {}),
  }
}

/**
 * A 401 `invalid_token` for a token minted for another resource: the description names the
 * audience this API accepts (public: RFC 9728 metadata publishes it), so a client knows which
 * `resource` (RFC 8707) to ask its authorization server for. @internal
 */
export function wrongAudience(audience: readonly string[], detail: string, hints?: Denial['hints']): Denial {
  // error_description allows printable ASCII without `"` and `\` (RFC 6750 §3).
  const names = audience.map((a) => a.replace(/[^\x20-\x7e]|["\\]/g, ''))
  return invalid(
    'bad_aud',
    detail,
    hints,
    `the access token is for another audience; this API accepts tokens for ${names.join(' or ')} (ask the authorization server with resource=${names[0]}, RFC 8707)`,
  )
}

/** A 401 `invalid_token`. @internal */
export function invalid(
  reason: GuardReason,
  detail: string,
  hints?: Denial['hints'],
  description = 'the access token is invalid',
): Denial {
  return {
    status: 401,
    error: 'invalid_token',
    description,
    reason,
    challengeError: true,
    detail,
    ...(hints ? { hints } : {}),
  }
}

/** The {@link AuthInfo} of verified claims. @internal */
export function authFromClaims(
  scheme: 'jwt' | 'introspection',
  claims: Record<string, unknown>,
  scopeClaims: readonly string[],
  kid?: string,
): AuthInfo<Record<string, unknown>> {
  const scopes = new Set<string>()
  for (const name of scopeClaims) {
    const value = claims[name]
    if (typeof value === 'string') for (const s of value.split(' ')) if (s) scopes.add(s)
    if (Array.isArray(value)) for (const s of value) if (typeof s === 'string' && s) scopes.add(s)
  }
  const aud = claims.aud
  const clientId =
    typeof claims.client_id === 'string'
      ? claims.client_id
      : typeof claims.azp === 'string'
        ? claims.azp
        : undefined
  return {
    scheme,
    ...(typeof claims.sub === 'string' ? { subject: claims.sub } : {}),
    ...(typeof claims.iss === 'string' ? { issuer: claims.iss } : {}),
    ...(typeof aud === 'string'
      ? { audience: [aud] }
      : Array.isArray(aud)
        ? { audience: aud.filter((a) => typeof a === 'string') }
        : {}),
    scopes: [...scopes],
    claims,
    ...(clientId !== undefined ? { clientId } : {}),
    ...(kid !== undefined ? { kid } : {}),
  }
}

/**
 * Protects routes with bearer JWTs (RFC 6750 + RFC 7519), verified by jose against a remote JWKS
 * (`jwksUrl`, or the `jwks_uri` of the `issuer`'s discovery document) or against `keys`.
 *
 * Safe by default where fastgeoapi and Hono's `jwk()` were not: `iss`, `aud` and `exp` are
 * required unless waived by name; only asymmetric algorithms from an allow-list (`none` and `HS*`
 * cannot be enabled, so HS/RS confusion is impossible); 30 s clock tolerance; the JWKS is cached
 * (10 min), refetched for an unknown `kid` at most once per cooldown (30 s), fetched with a 5 s
 * timeout, and a JWKS outage is survived with the last good keys (1 h). Errors follow RFC 6750 §3:
 * no credential → 401 without `error`; malformed or repeated `Authorization` → 400
 * `invalid_request`; bad token → 401 `invalid_token`; JWKS down and no cached key → 503.
 * The scheme name is matched case-insensitively (`bearer` works; RFC 9110 §11.1). With `dpop`,
 * `Authorization: DPoP` plus a `DPoP` proof is accepted too (RFC 9449); a token bound to a key
 * (`cnf.jkt`) is refused as `Bearer` in any case.
 *
 * Verified claims and scopes are on `c.var.auth` (`claims`, `scopes`, `subject`, …).
 *
 * @typeParam Claims - Your claims' shape, for `c.var.auth.claims`.
 * @param options - Key source (`jwksUrl`, `issuer` for discovery, or `keys`), `issuer`, `audience`, and tuning.
 * @returns A middleware; its `scheme` property lets {@link guard} combine it with other schemes.
 * @throws GuardError `ERR_MISSING_OPTION` without `issuer`/`audience` (unless waived) or a key
 *   source; `ERR_CONFLICTING_OPTIONS` for two key sources or a value plus its waiver;
 *   `ERR_INVALID_OPTION` for `none`/`HS*`/unknown algorithms, private or symmetric `keys`, bad
 *   numbers, and for bad `dpop` options (a MAC or unknown proof algorithm, a `publicOrigin` with a
 *   path, a nonce secret under 32 characters); `ERR_INSECURE_URL` for plain-http URLs off loopback.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @see https://www.rfc-editor.org/rfc/rfc8725
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { jwtAuth, type GuardEnv } from '@keyfob/guard'
 *
 * const app = new Hono<GuardEnv>()
 * app.use('*', jwtAuth({ issuer: 'https://idp.example', audience: 'https://api.example' }))
 * app.get('/me', (c) => c.json({ sub: c.var.auth.subject, scopes: c.var.auth.scopes }))
 * ```
 */
export function jwtAuth<Claims extends Record<string, unknown> = JWTPayload>(
  options: JwtAuthOptions,
): SchemeMiddleware<Claims> {
  const owner = 'jwtAuth'
  if (options === null || typeof options !== 'object') {
    throw new GuardError(
      'ERR_MISSING_OPTION',
      `${owner}: options are required (issuer, audience and a key source)`,
    )
  }
  const allowHttp = options.allowHttp ?? false
  const jwks = jwksOptions(options.jwks, owner)
  const sources = (['jwksUrl', 'keys'] as const).filter((k) => options[k] !== undefined)
  if (sources.length > 1) {
    throw new GuardError('ERR_CONFLICTING_OPTIONS', `${owner}: give jwksUrl or keys, not both`)
  }
  let keys: KeySource
  if (options.keys !== undefined) {
    keys = localKeySource(checkKeys(options.keys, owner))
  } else if (options.jwksUrl !== undefined) {
    const url = checkUrl(options.jwksUrl, 'jwksUrl', owner, allowHttp)
    keys = remoteKeySource(async () => url, { ...jwks, fetch: options.fetch })
  } else if (typeof options.issuer === 'string') {
    const discover = createDiscovery({
      issuer: options.issuer,
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      timeoutMs: jwks.timeoutMs,
      cooldownMs: jwks.cooldownMs,
      allowHttp,
      owner,
    })
    keys = remoteKeySource(
      async () => {
        const metadata = await discover()
        if (typeof metadata.jwks_uri !== 'string') {
          throw new DependencyError(
            'discovery',
            `the discovery document of ${options.issuer} has no jwks_uri`,
          )
        }
        return new URL(metadata.jwks_uri)
      },
      { ...jwks, fetch: options.fetch },
    )
  } else {
    throw new GuardError(
      'ERR_MISSING_OPTION',
      `${owner}: no key source; give jwksUrl, keys, or a single issuer whose discovery document names the JWKS`,
    )
  }
  const verifier = createJwtVerifier(options, keys, owner)
  return bearerMiddleware<Claims>(
    owner,
    options,
    (token) => verifier.verify(token),
    (token) => verifier.seen(token),
  )
}

/**
 * A bearer-token scheme as a middleware: reads the `Authorization: Bearer` credential (or, with
 * `dpop`, `DPoP` and its proof), length bounded by `maxTokenLength`, and hands the token to
 * `check`. Shared by `jwtAuth` and `oidcAuth`. A token bound to a key (`cnf.jkt`) is refused as
 * `Bearer` whether DPoP is configured or not (RFC 9449 §7.2). `seen` says whether `check` has
 * accepted this exact token before: its `b64token` syntax is then not checked again.
 * @internal
 */
export function bearerMiddleware<Claims extends Record<string, unknown>>(
  owner: string,
  options: EntryOptions & {
    readonly realm?: string
    readonly maxTokenLength?: number
    readonly resourceMetadata?: string | URL
    readonly dpop?: DpopOptions
    readonly now?: () => number
  },
  check: (token: string) => Promise<SchemeOutcome>,
  seen?: (token: string) => boolean,
): SchemeMiddleware<Claims> {
  const maxLength = options.maxTokenLength ?? 8192
  const extra =
    options.resourceMetadata === undefined
      ? []
      : [
          `resource_metadata=${quote(checkUrl(options.resourceMetadata, 'resourceMetadata', owner, true).href)}`,
        ]
  const bearer = challengeOf('Bearer', options.realm, extra)
  const dpop =
    options.dpop === undefined
      ? undefined
      : createDpopVerifier(options.dpop, { owner, now: options.now ?? Date.now, realm: options.realm, extra })
  const accepted = dpop?.required ? [dpop.challenge] : dpop ? [bearer, dpop.challenge] : [bearer]
  const scheme: GuardScheme = {
    kind: 'bearer',
    name: owner,
    present: dpop ? (c) => hasBearer(c, true) : (c) => hasBearer(c),
    challenge: () => accepted[0] as string,
    ...(dpop
      ? {
          challenges: (denial?: Denial) =>
            denial?.scheme === 'DPoP' && !dpop.required ? [dpop.challenge, bearer] : accepted,
        }
      : {}),
    hasEntryOptions: hasEntryOptions(options),
    async authenticate(c: Context): Promise<SchemeOutcome> {
      const read = readBearer(c, maxLength, dpop !== undefined, seen)
      if ('denial' in read) return { ok: false, denial: read.denial }
      if (read.scheme === 'Bearer') {
        if (dpop?.required) return { ok: false, denial: DPOP_REQUIRED }
        const outcome = await check(read.token)
        if (outcome.ok && boundKey(outcome.auth.claims) !== undefined) {
          return { ok: false, denial: dpop ? BOUND_AS_BEARER : boundAsBearerWithoutDpop(owner) }
        }
        return outcome
      }
      const outcome = await check(read.token)
      if (!outcome.ok) return { ok: false, denial: { ...outcome.denial, scheme: 'DPoP' } }
      const jkt = boundKey(outcome.auth.claims)
      if (jkt === undefined) return { ok: false, denial: UNBOUND }
      const proof = await (dpop as DpopVerifier).check(c, read.token, jkt)
      if (!proof.ok) return proof
      const auth = { ...outcome.auth, dpop: { jkt: proof.jkt } }
      return proof.nonce === undefined
        ? { ok: true, auth }
        : { ok: true, auth, headers: { 'DPoP-Nonce': proof.nonce } }
    },
  }
  return Object.assign(createEntry(owner, [scheme], 'first-present', options), {
    scheme,
  }) as SchemeMiddleware<Claims>
}

/** The `cnf.jkt` a token is bound to (RFC 9449 §6), or `undefined` for an unbound token. */
function boundKey(claims: Record<string, unknown>): string | undefined {
  const cnf = claims.cnf
  if (cnf === null || typeof cnf !== 'object' || !('jkt' in cnf)) return undefined
  const jkt = (cnf as { jkt: unknown }).jkt
  // A jkt that is not a string binds the token to no key at all: no proof can match it.
  return typeof jkt === 'string' ? jkt : ''
}

const DPOP_REQUIRED: Denial = {
  status: 401,
  error: 'invalid_token',
  description: 'this API accepts only DPoP-bound access tokens: send Authorization: DPoP with a DPoP proof',
  reason: 'dpop_required',
  challengeError: true,
  scheme: 'DPoP',
  detail: 'Authorization: Bearer where dpop.required is set',
}

const BOUND_AS_BEARER: Denial = {
  status: 401,
  error: 'invalid_token',
  description: 'the access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof',
  reason: 'dpop_bound_as_bearer',
  challengeError: true,
  scheme: 'Bearer',
  detail: 'a token with cnf.jkt sent as Bearer (RFC 9449 section 7.2)',
}

function boundAsBearerWithoutDpop(owner: string): Denial {
  return {
    ...BOUND_AS_BEARER,
    description: 'the access token is DPoP-bound and this API does not accept DPoP',
    detail: `a token with cnf.jkt sent as Bearer (RFC 9449 section 7.2); to accept DPoP-bound tokens, set ${owner}'s dpop option`,
  }
}

const UNBOUND: Denial = {
  status: 401,
  error: 'invalid_token',
  description: 'the access token is not DPoP-bound: send it as Authorization: Bearer',
  reason: 'dpop_unbound',
  challengeError: true,
  scheme: 'DPoP',
  detail: 'Authorization: DPoP with a token that has no cnf.jkt',
}

/** Validated JWKS tuning with jose's defaults. @internal */
export function jwksOptions(value: JwksOptions | undefined, owner: string): Required<JwksOptions> {
  const o = value ?? {}
  return {
    timeoutMs: positiveInteger(o.timeoutMs, 5000, 'jwks.timeoutMs', owner),
    cooldownMs: nonNegative(o.cooldownMs, 30_000, 'jwks.cooldownMs', owner),
    cacheMaxAgeMs: nonNegative(o.cacheMaxAgeMs, 600_000, 'jwks.cacheMaxAgeMs', owner),
    staleIfErrorMs: nonNegative(o.staleIfErrorMs, 3_600_000, 'jwks.staleIfErrorMs', owner),
  }
}

function checkAlgorithms(value: readonly string[] | undefined, owner: string): ReadonlySet<string> {
  if (value === undefined) return new Set(DEFAULT_ALGORITHMS)
  if (!Array.isArray(value) || value.length === 0) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: algorithms must be a non-empty array such as ['RS256']`,
    )
  }
  for (const alg of value) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: algorithms must not include 'none': unsigned tokens are never accepted`,
      )
    }
    if (typeof alg === 'string' && /^HS/i.test(alg)) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: algorithms must not include ${alg}: shared-secret algorithms next to public keys invite HS/RS confusion; use an asymmetric algorithm (RS256, PS256, ES256, EdDSA)`,
      )
    }
    if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: unknown algorithm ${JSON.stringify(alg)}; use one of ${[...ASYMMETRIC_ALGORITHMS].join(', ')}`,
      )
    }
  }
  return new Set(value)
}

function checkKeys(keys: JSONWebKeySet | readonly JWK[], owner: string): JSONWebKeySet {
  const list: unknown = Array.isArray(keys) ? keys : (keys as JSONWebKeySet | null)?.keys
  if (!Array.isArray(list) || list.length === 0) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: keys must be a JWK Set ({ keys: [...] }) or a non-empty array of JWKs`,
    )
  }
  list.forEach((jwk: unknown, i) => {
    const k = jwk as JWK | null
    if (!k || typeof k !== 'object' || typeof k.kty !== 'string') {
      throw new GuardError('ERR_INVALID_OPTION', `${owner}: keys[${i}] is not a JWK`)
    }
    if (k.kty === 'oct') {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: keys[${i}] is a symmetric (oct) key; only public keys are accepted, so HS/RS confusion cannot happen`,
      )
    }
    if ('d' in k || 'p' in k || 'q' in k) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: keys[${i}] is a private key; give only the public part (drop d, p, q, dp, dq, qi)`,
      )
    }
  })
  return { keys: list as JWK[] }
}
