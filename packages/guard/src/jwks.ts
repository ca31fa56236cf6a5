/** Key sources for JWT verification: jose's remote JWKS plus stale-if-error, or local keys. @internal @module */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWKSCacheInput,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
  jwksCache,
  type RemoteJWKSet,
} from 'jose'
import { DependencyError } from './errors.ts'
import type { FetchLike } from './types.ts'

/** Tuning of the remote JWKS (all jose's defaults). */
export interface JwksOptions {
  /** Abort a JWKS (or discovery) request after this long; default 5000 ms. */
  readonly timeoutMs?: number
  /**
   * After a fetch, a token with an unknown `kid` does not trigger another one for this long;
   * default 30 000 ms. So a flood of random `kid`s costs the IdP at most one request per cooldown.
   * After a failed fetch, the guard also waits this long before trying again.
   */
  readonly cooldownMs?: number
  /** Refetch the JWKS when it is older than this; default 600 000 ms (10 minutes). */
  readonly cacheMaxAgeMs?: number
  /**
   * When a refetch fails (IdP down, timeout, bad answer), keep verifying with the last good JWKS
   * if it is at most this old; default 3 600 000 ms (1 hour). `0` turns stale use off.
   */
  readonly staleIfErrorMs?: number
}

/**
 * Where JWT verification gets its keys: the resolver jose calls, and the key set it currently
 * resolves from (so the verified-token cache can drop tokens whose key left the set).
 */
export interface KeySource {
  /** The resolver for `jwtVerify`. */
  readonly getKey: JWTVerifyGetKey
  /** The key set last fetched (or configured); `undefined` before the first fetch. */
  current(): JSONWebKeySet | undefined
}

/** Errors of a key lookup that say something about the token, not about the JWKS endpoint. */
function isTokenError(error: unknown): boolean {
  return (
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys ||
    error instanceof errors.JOSENotSupported ||
    error instanceof errors.JOSEAlgNotAllowed
  )
}

/**
 * A key resolver over a remote JWKS. Caching, the cooldown on unknown `kid`s, the timeout, single
 * flight and key selection are jose's `createRemoteJWKSet`; around it, a failed fetch falls back to
 * the last good key set (bounded by `staleIfErrorMs`) and opens a short circuit so an outage does
 * not make every request wait for the timeout. Failures surface as {@link DependencyError}.
 */
export function remoteKeySource(
  url: () => Promise<URL>,
  options: Required<JwksOptions> & { readonly fetch: FetchLike | undefined },
): KeySource {
  const cache: { uat?: number; jwks?: JSONWebKeySet } = {}
  let creating: Promise<RemoteJWKSet> | undefined
  let ready: RemoteJWKSet | undefined
  let failedAt: number | undefined
  let stale:
    | { readonly jwks: JSONWebKeySet; readonly resolve: ReturnType<typeof createLocalJWKSet> }
    | undefined

  const fromStale = async (
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
    cause: unknown,
  ): Promise<CryptoKey> => {
    const jwks = cache.jwks
    const uat = cache.uat
    if (jwks === undefined || uat === undefined || Date.now() - uat > options.staleIfErrorMs) {
      throw new DependencyError(
        'jwks',
        'the JWKS could not be fetched and no cached key set is recent enough',
        {
          cause,
        },
      )
    }
    if (stale?.jwks !== jwks) stale = { jwks, resolve: createLocalJWKSet(jwks) }
    try {
      return await stale.resolve(header, token)
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) {
        throw new DependencyError(
          'jwks',
          'no cached key matches the token and the JWKS could not be refetched',
          {
            cause,
          },
        )
      }
      throw error
    }
  }

  async function getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    // One remote set for every request, created once the URL is known (single flight).
    let remote = ready
    if (!remote) {
      creating ??= url()
        .then((href) =>
          createRemoteJWKSet(href, {
            timeoutDuration: options.timeoutMs,
            cooldownDuration: options.cooldownMs,
            cacheMaxAge: options.cacheMaxAgeMs,
            [jwksCache]: cache as JWKSCacheInput,
            ...(options.fetch ? { [customFetch]: options.fetch } : {}),
          }),
        )
        .catch((error: unknown) => {
          creating = undefined
          throw error
        })
      remote = await creating
      ready = remote
    }
    if (failedAt !== undefined && Date.now() - failedAt < options.cooldownMs) {
      return fromStale(header, token, new Error('the last JWKS fetch failed moments ago'))
    }
    try {
      const key = await remote(header, token)
      failedAt = undefined
      return key
    } catch (error) {
      if (isTokenError(error)) throw error
      failedAt = Date.now()
      return fromStale(header, token, error)
    }
  }
  return { getKey, current: () => cache.jwks }
}

/** A key resolver over keys given in configuration. */
export function localKeySource(jwks: JSONWebKeySet): KeySource {
  return { getKey: createLocalJWKSet(jwks), current: () => jwks }
}
