import type { JWTPayload } from 'jose'
import { createDiscovery } from './discovery.ts'
import type { DpopOptions } from './dpop.ts'
import { DependencyError, GuardError } from './errors.ts'
import { createIntrospection, type IntrospectionOptions, introspectionSettings } from './introspection.ts'
import { remoteKeySource } from './jwks.ts'
import {
  bearerMiddleware,
  createJwtVerifier,
  invalid,
  type JwksOptions,
  type JwtValidationOptions,
  jwksOptions,
} from './jwt.ts'
import type { EntryOptions, FetchLike, SchemeMiddleware, SchemeOutcome } from './types.ts'

export type { IntrospectionOptions } from './introspection.ts'

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
  /** The URL of this resource's RFC 9728 metadata, sent as `resource_metadata` in challenges. */
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

/**
 * Protects routes with OpenID Connect access tokens from one issuer, configured by discovery:
 * JWT access tokens are verified locally against the discovered `jwks_uri` (everything
 * {@link jwtAuth} does), and opaque tokens are checked with RFC 7662 token introspection.
 *
 * Introspection answers are cached by the token's SHA-256 (never the token itself) for
 * `cacheTtlMs`, never beyond the token's `exp`, in a bounded LRU; concurrent requests with the same
 * token share one call. `active: false`, a refresh token, a foreign `iss` or a missing audience
 * give 401 `invalid_token`; an unreachable endpoint gives 503 unless a cached answer decides.
 * Nothing redirects: an API answers 401, and logging in is the client's business. With `dpop`,
 * DPoP-bound tokens (`cnf.jkt` in the JWT or in the introspection answer) are accepted with a
 * proof, as with {@link jwtAuth}.
 *
 * @typeParam Claims - Your claims' shape, for `c.var.auth.claims`.
 * @param options - `issuer`, `audience`, optional `introspection` client, and tuning.
 * @returns A middleware; its `scheme` property lets {@link guard} combine it with other schemes.
 * @throws GuardError `ERR_MISSING_OPTION`, `ERR_CONFLICTING_OPTIONS`, `ERR_INVALID_OPTION`,
 *   `ERR_INSECURE_URL`, as {@link jwtAuth} (`dpop` included); `ERR_MISSING_OPTION` for an
 *   introspection client without id or secret.
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
    ? createIntrospection(
        introspectionSettings(options.introspection, options, owner, allowHttp),
        discover,
        fetchImpl,
      )
    : undefined
  const seen = (token: string) => verifier.seen(token)
  const check = async (token: string): Promise<SchemeOutcome> => {
    // A token the verifier has accepted before is a JWT: no need to decode its header again.
    if (seen(token) || (looksLikeJwt(token) && !(introspect && options.introspection?.introspectJwts)))
      return verifier.verify(token)
    if (!introspect) {
      return {
        ok: false,
        denial: invalid('opaque_token', 'the token is not a JWT and no introspection is configured'),
      }
    }
    return introspect(token)
  }
  return bearerMiddleware<Claims>(owner, options, check, seen)
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
