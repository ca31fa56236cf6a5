/** `guard`: an explicit, ordered combination of authentication schemes. @module */
import type { MiddlewareHandler } from 'hono'
import type { JWTPayload } from 'jose'
import { type Combine, createEntry } from './entry.ts'
import { GuardError } from './errors.ts'
import type { EntryOptions, GuardEnv, GuardScheme } from './types.ts'

/** Anything that carries a scheme: the middlewares of {@link apiKeyAuth}, {@link jwtAuth}, {@link oidcAuth}. */
export interface SchemeCarrier {
  /** The scheme. */
  readonly scheme: GuardScheme
}

/** Options of {@link guard}. */
export interface GuardOptions extends EntryOptions {
  /**
   * The schemes, in order: middlewares from {@link apiKeyAuth}, {@link jwtAuth} and
   * {@link oidcAuth} (or their `scheme`). Put `publicPaths`, `corsPreflight` and `onEvent` here,
   * not on them.
   */
  readonly schemes: readonly (SchemeCarrier | GuardScheme)[]
  /**
   * How two or more schemes combine; required when there are two or more.
   * - `first-present`: the first scheme, in order, whose credential the request carries decides
   *   alone; a credential that fails is **not** retried with the next scheme. No credential at
   *   all → 401 offering every scheme's challenge.
   * - `all`: every scheme must succeed (e.g. an API key for the application **and** a user's
   *   token); `c.var.auth` is the first scheme's result, with every result in `auth.factors`.
   */
  readonly combine?: Combine
}

/**
 * One entry point for several authentication schemes, combined explicitly and in order. Two
 * schemes without `combine` stop startup with `ERR_AMBIGUOUS_SCHEMES` (fastgeoapi's "mutually
 * exclusive" check, typed); so does stacking two scheme middlewares on one route, at its first
 * request.
 *
 * @param options - `schemes`, `combine`, and the entry options (`publicPaths`, `corsPreflight`, `onEvent`).
 * @returns A middleware that authenticates with the schemes and sets `c.var.auth`.
 * @throws GuardError `ERR_AMBIGUOUS_SCHEMES` for two or more schemes without `combine`;
 *   `ERR_MISSING_OPTION` for no schemes; `ERR_INVALID_OPTION` for something that is not a scheme,
 *   the same scheme twice, or an unknown `combine`; `ERR_CONFLICTING_OPTIONS` for a scheme that
 *   has its own `publicPaths`, `corsPreflight` or `onEvent`.
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { apiKeyAuth, guard, jwtAuth, type GuardEnv } from '@keyfob/guard'
 *
 * const app = new Hono<GuardEnv>()
 * app.use(
 *   '*',
 *   guard({
 *     schemes: [
 *       jwtAuth({ issuer: 'https://idp.example', audience: 'https://api.example' }),
 *       apiKeyAuth({ envPrefix: 'PYGEOAPI_KEY_' }),
 *     ],
 *     combine: 'first-present',
 *     publicPaths: ['GET /openapi', 'GET /conformance'],
 *   }),
 * )
 * ```
 */
export function guard<Claims extends Record<string, unknown> = JWTPayload>(
  options: GuardOptions,
): MiddlewareHandler<GuardEnv<Claims>> {
  const owner = 'guard'
  if (options === null || typeof options !== 'object' || options.schemes === undefined) {
    throw new GuardError(
      'ERR_MISSING_OPTION',
      `${owner}: schemes is required, e.g. guard({ schemes: [jwtAuth({...})] })`,
    )
  }
  if (!Array.isArray(options.schemes) || options.schemes.length === 0) {
    throw new GuardError(
      'ERR_MISSING_OPTION',
      `${owner}: schemes is empty; an API without a scheme would be open by accident. Give at least one of apiKeyAuth, jwtAuth, oidcAuth`,
    )
  }
  const schemes = options.schemes.map((s, i): GuardScheme => {
    const scheme = (
      typeof s === 'function' || (s && 'scheme' in s) ? (s as { scheme?: GuardScheme }).scheme : s
    ) as GuardScheme | undefined
    if (!scheme || typeof scheme.authenticate !== 'function' || typeof scheme.present !== 'function') {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: schemes[${i}] is not an authentication scheme; use apiKeyAuth, jwtAuth or oidcAuth (authorization middlewares such as requireScopes go after guard)`,
      )
    }
    if (scheme.hasEntryOptions) {
      throw new GuardError(
        'ERR_CONFLICTING_OPTIONS',
        `${owner}: schemes[${i}] (${scheme.name}) has its own publicPaths, corsPreflight or onEvent; set them on guard() so one list decides`,
      )
    }
    return scheme
  })
  if (new Set(schemes).size !== schemes.length) {
    throw new GuardError('ERR_INVALID_OPTION', `${owner}: the same scheme is listed twice`)
  }
  const combine = options.combine
  if (schemes.length > 1 && combine === undefined) {
    throw new GuardError(
      'ERR_AMBIGUOUS_SCHEMES',
      `${owner}: ${schemes.length} schemes (${schemes.map((s) => s.name).join(', ')}) are enabled but combine is not set; say combine: 'first-present' (the first credential present decides) or combine: 'all' (every scheme must pass)`,
    )
  }
  if (combine !== undefined && combine !== 'first-present' && combine !== 'all') {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: combine must be 'first-present' or 'all', got ${JSON.stringify(combine)}`,
    )
  }
  return createEntry(owner, schemes, combine ?? 'first-present', options)
}
