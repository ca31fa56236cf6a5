/** The guard's typed configuration errors. @module */

/** Every code a {@link GuardError} can carry. Switch on it; never on the message. */
export type GuardErrorCode =
  /** An option has the wrong type or an impossible value (a negative timeout, `alg: none`, …). */
  | 'ERR_INVALID_OPTION'
  /** A required option is missing (`audience` without a waiver, no key source, …). */
  | 'ERR_MISSING_OPTION'
  /** Two options say different things (`keys` and `envPrefix`, `audience` and a waiver of `aud`). */
  | 'ERR_CONFLICTING_OPTIONS'
  /** An API key (or the environment variable holding one) is empty or too short. */
  | 'ERR_EMPTY_KEY'
  /** Two API keys, key hashes or key ids are the same. */
  | 'ERR_DUPLICATE_KEY'
  /** Two authentication schemes are enabled and nothing says how they combine. */
  | 'ERR_AMBIGUOUS_SCHEMES'
  /** A URL the guard would fetch keys or metadata from is plain `http:` on a non-loopback host. */
  | 'ERR_INSECURE_URL'
  /** A Cedar policy set (or schema) does not parse. */
  | 'ERR_INVALID_POLICY'

/**
 * The one error class of `@keyfob/guard`, thrown when a middleware is **created** with a bad
 * configuration, so that a mistake stops the server at startup instead of turning into a 500 (or
 * an open API) at request time. Requests do not throw it: a bad credential, a policy deny or an
 * unreachable IdP become 400/401/403/503 responses. The one exception is a wiring mistake no
 * factory can see: two scheme middlewares stacked on one route throw `ERR_AMBIGUOUS_SCHEMES` at
 * that route's first request (a 500 through Hono's error handler), naming `guard()` as the fix.
 *
 * The message says what was wrong, with which option, and what to do; `cause` holds the evidence
 * (the option name, a Cedar parse diagnostic). A key, secret or token never appears in either.
 *
 * @example
 * ```ts
 * import { GuardError, jwtAuth } from '@keyfob/guard'
 *
 * try {
 *   jwtAuth({ jwksUrl: 'https://idp.example/jwks', issuer: 'https://idp.example' })
 * } catch (e) {
 *   if (e instanceof GuardError && e.code === 'ERR_MISSING_OPTION') console.error(e.message)
 * }
 * ```
 */
export class GuardError extends Error {
  /** The stable code. */
  readonly code: GuardErrorCode

  /**
   * @param code - The stable code.
   * @param message - What was wrong and what to do.
   * @param options - `cause`: the evidence, never a secret.
   */
  constructor(code: GuardErrorCode, message: string, options?: { readonly cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = this.constructor.name
  }
}

/**
 * A dependency (JWKS, discovery, introspection, a policy engine) could not answer. Thrown inside
 * the guard and turned into a 503; never escapes a middleware. @internal
 */
export class DependencyError extends Error {
  readonly dependency: Dependency

  constructor(dependency: Dependency, message: string, options?: { readonly cause?: unknown }) {
    super(message, options)
    this.dependency = dependency
    this.name = this.constructor.name
  }
}

/** The remote services the guard depends on. */
export type Dependency = 'jwks' | 'discovery' | 'introspection' | 'opa' | 'policy'
