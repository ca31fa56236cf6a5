/** Authorization after authentication: scopes, claims and policy engines. @module */
import type { Context, MiddlewareHandler } from 'hono'
import { describe } from './discovery.ts'
import { GuardError } from './errors.ts'
import { allowEvent, challengeOf, challengeSchemeFor, denialEvent, deny, emit, MISSING } from './respond.ts'
import type { AuthInfo, Denial, GuardEnv, GuardEventHandler } from './types.ts'

/** Options every authorization middleware accepts. */
export interface AuthorizeOptions {
  /** The `realm` of the challenge in a 401/403. */
  readonly realm?: string
  /** Receives a {@link GuardEvent} per decision. */
  readonly onEvent?: GuardEventHandler
}

/** Options of {@link requireScopes}. */
export interface RequireScopesOptions extends AuthorizeOptions {
  /** `all` (default): every scope is needed; `any`: one of them is enough. */
  readonly mode?: 'all' | 'any'
}

function readAuth(c: Context): AuthInfo<Record<string, unknown>> | undefined {
  return c.get('auth') as AuthInfo<Record<string, unknown>> | undefined
}

function refuse(c: Context, source: string, denial: Denial, options: AuthorizeOptions): Response {
  emit(options.onEvent, c, source, denialEvent(denial))
  const auth = readAuth(c)
  return deny(c, denial, denial.status === 503 ? [] : [challengeOf(challengeSchemeFor(auth), options.realm)])
}

function forbidden(
  reason: Denial['reason'],
  description: string,
  detail?: string,
  scope?: readonly string[],
): Denial {
  return {
    status: 403,
    error: 'insufficient_scope',
    description,
    reason,
    challengeError: true,
    ...(scope ? { scope } : {}),
    ...(detail !== undefined ? { detail } : {}),
  }
}

/**
 * Requires scopes granted to the caller (`scope`/`scp` claims, introspection `scope`, or an API
 * key's `scopes`). Place it after a scheme middleware or {@link guard}. A caller without them gets
 * 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` (RFC 6750 §3.1); a
 * request that was never authenticated (a public path) gets 401.
 *
 * @param scopes - One scope or several.
 * @param options - `mode: 'any'` to accept any one of them; `realm`; `onEvent`.
 * @returns A middleware.
 * @throws GuardError `ERR_INVALID_OPTION` for an empty list or a scope with a space.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { jwtAuth, requireScopes, type GuardEnv } from '@keyfob/guard'
 *
 * const app = new Hono<GuardEnv>()
 * app.use('*', jwtAuth({ issuer: 'https://idp.example', audience: 'https://api.example' }))
 * app.post('/collections/:id/items', requireScopes('features:write'), (c) => c.body(null, 201))
 * ```
 */
export function requireScopes(
  scopes: string | readonly string[],
  options: RequireScopesOptions = {},
): MiddlewareHandler<GuardEnv> {
  const list = typeof scopes === 'string' ? [scopes] : scopes
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((s) => typeof s === 'string' && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))
  ) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      'requireScopes: give one or more scopes (RFC 6749 §3.3 scope tokens: no spaces, quotes or backslashes)',
    )
  }
  const mode = options.mode ?? 'all'
  if (mode !== 'all' && mode !== 'any')
    throw new GuardError('ERR_INVALID_OPTION', "requireScopes: mode must be 'all' or 'any'")
  const required = [...list]
  return async function requireScopes(c, next) {
    const auth = readAuth(c)
    if (!auth) return refuse(c, 'requireScopes', MISSING, options)
    const granted = new Set(auth.scopes)
    const ok = mode === 'all' ? required.every((s) => granted.has(s)) : required.some((s) => granted.has(s))
    if (!ok) {
      return refuse(
        c,
        'requireScopes',
        forbidden(
          'insufficient_scope',
          `this request needs ${mode === 'all' ? 'the scopes' : 'one of the scopes'}: ${required.join(' ')}`,
          `granted: ${[...granted].join(' ') || '(none)'}`,
          required,
        ),
        options,
      )
    }
    emit(options.onEvent, c, 'requireScopes', allowEvent(auth))
    return next()
  }
}

/** One claim requirement: a value (equal, or contained when the claim is an array), a list of accepted values, or a predicate. */
export type ClaimCheck =
  | string
  | number
  | boolean
  | readonly (string | number | boolean)[]
  | ((value: unknown, claims: Readonly<Record<string, unknown>>) => boolean)

/**
 * Requires claims of the verified caller: `{ tenant: 'acme' }` (equal, or contained in an array
 * claim), `{ roles: ['admin', 'editor'] }` (one of), or `{ email_verified: (v) => v === true }`.
 * A missing or different claim gives 403 `insufficient_scope` (the caller is known, but may not
 * do this); a predicate that throws counts as a deny.
 *
 * @param checks - Claim name to requirement.
 * @param options - `realm`, `onEvent`.
 * @returns A middleware.
 * @throws GuardError `ERR_INVALID_OPTION` for no checks or a check of the wrong type.
 * @example
 * ```ts
 * import { requireClaims } from '@keyfob/guard'
 *
 * const adminsOnly = requireClaims({ roles: 'admin', email_verified: true })
 * ```
 */
export function requireClaims(
  checks: Readonly<Record<string, ClaimCheck>>,
  options: AuthorizeOptions = {},
): MiddlewareHandler<GuardEnv> {
  if (checks === null || typeof checks !== 'object' || Object.keys(checks).length === 0) {
    throw new GuardError('ERR_INVALID_OPTION', 'requireClaims: give at least one claim check')
  }
  const entries = Object.entries(checks)
  for (const [name, check] of entries) {
    const t = typeof check
    if (!(t === 'string' || t === 'number' || t === 'boolean' || t === 'function' || Array.isArray(check))) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `requireClaims: the check for ${JSON.stringify(name)} must be a value, an array of values or a function`,
      )
    }
  }
  return async function requireClaims(c, next) {
    const auth = readAuth(c)
    if (!auth) return refuse(c, 'requireClaims', MISSING, options)
    for (const [name, check] of entries) {
      const value = auth.claims[name]
      let ok: boolean
      try {
        ok = claimMatches(value, check, auth.claims)
      } catch {
        ok = false
      }
      if (!ok) {
        return refuse(
          c,
          'requireClaims',
          forbidden('claim_mismatch', 'the caller may not make this request', `claim ${name}`),
          options,
        )
      }
    }
    emit(options.onEvent, c, 'requireClaims', allowEvent(auth))
    return next()
  }
}

function claimMatches(value: unknown, check: ClaimCheck, claims: Readonly<Record<string, unknown>>): boolean {
  if (typeof check === 'function') return check(value, claims) === true
  const accepted: readonly unknown[] = Array.isArray(check) ? check : [check]
  const actual: readonly unknown[] = Array.isArray(value) ? value : [value]
  return actual.some((v) => accepted.includes(v))
}

/** What a policy engine gets to decide on. */
export interface PolicyRequest {
  /** The verified caller. */
  readonly auth: AuthInfo<Record<string, unknown>>
  /** The request method, e.g. `GET`. */
  readonly method: string
  /** The request path, e.g. `/geoapi/collections/obs/items`. */
  readonly path: string
  /** The path split on `/`, empty segments dropped: `['geoapi', 'collections', 'obs', 'items']`. */
  readonly segments: readonly string[]
  /** Query parameters (the first value of each). */
  readonly query: Readonly<Record<string, string>>
  /** The Hono context, for engines that need more (route params, headers). */
  readonly context: Context
}

/** A policy engine's answer. */
export interface PolicyDecision {
  /** Whether the request may proceed. */
  readonly allow: boolean
  /** Why (for logs, never sent to the client). */
  readonly reason?: string
}

/**
 * A policy engine: `decide` answers allow or deny, and **throws** when it cannot decide (engine
 * down, timeout, evaluation error), which {@link policy} turns into a 503: fail closed.
 */
export interface PolicyEngine {
  /** A name for logs, e.g. `opa` or `cedar`. */
  readonly name: string
  /** Decides one request. */
  decide(request: PolicyRequest): Promise<PolicyDecision> | PolicyDecision
}

/**
 * Asks a policy engine whether the authenticated caller may make this request: allow → next
 * handler; deny → 403 `insufficient_scope`; engine unreachable, too slow or erroring → 503 (fail
 * closed, never a 500, never an open door). Use {@link opaPolicy} for OPA's REST API,
 * `cedarPolicy` from `@keyfob/guard/cedar` for an in-process Cedar engine, or a function.
 *
 * @param engine - A {@link PolicyEngine}, or a function from {@link PolicyRequest} to a boolean or {@link PolicyDecision}.
 * @param options - `realm`, `onEvent`.
 * @returns A middleware.
 * @throws GuardError `ERR_INVALID_OPTION` when `engine` is neither.
 * @example
 * ```ts
 * import { opaPolicy, policy } from '@keyfob/guard'
 *
 * const authz = policy(opaPolicy({ url: 'http://127.0.0.1:8181', path: 'httpapi/authz' }))
 * const ownItemsOnly = policy(({ auth, segments }) => segments[1] === auth.subject)
 * ```
 */
export function policy(
  engine:
    | PolicyEngine
    | ((request: PolicyRequest) => boolean | PolicyDecision | Promise<boolean | PolicyDecision>),
  options: AuthorizeOptions = {},
): MiddlewareHandler<GuardEnv> {
  let decide: (request: PolicyRequest) => Promise<PolicyDecision>
  let name: string
  if (typeof engine === 'function') {
    name = engine.name || 'function'
    decide = async (request) => {
      const answer = await engine(request)
      return typeof answer === 'boolean' ? { allow: answer } : answer
    }
  } else if (engine && typeof engine === 'object' && typeof engine.decide === 'function') {
    name = engine.name
    decide = async (request) => engine.decide(request)
  } else {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      'policy: engine must be a PolicyEngine (opaPolicy, cedarPolicy) or a function',
    )
  }
  return async function policy(c, next) {
    const auth = readAuth(c)
    if (!auth) return refuse(c, 'policy', MISSING, options)
    const url = new URL(c.req.url)
    const query: Record<string, string> = {}
    for (const [k, v] of url.searchParams) if (!(k in query)) query[k] = v
    const request: PolicyRequest = {
      auth,
      method: c.req.method,
      path: c.req.path,
      segments: c.req.path.split('/').filter(Boolean),
      query,
      context: c,
    }
    let decision: PolicyDecision
    try {
      decision = await decide(request)
      if (!decision || typeof decision.allow !== 'boolean')
        throw new Error('the engine returned no boolean allow')
    } catch (error) {
      const denial: Denial = {
        status: 503,
        error: 'temporarily_unavailable',
        description: 'the authorization service is unavailable; try again later',
        reason: 'policy_unavailable',
        challengeError: false,
        dependency: name === 'opa' ? 'opa' : 'policy',
        retryAfterS: 5,
        detail: `${name}: ${describe(error)}`,
      }
      return refuse(c, 'policy', denial, options)
    }
    if (!decision.allow) {
      return refuse(
        c,
        'policy',
        forbidden(
          'policy_deny',
          'the policy does not allow this request',
          decision.reason !== undefined ? `${name}: ${decision.reason}` : name,
        ),
        options,
      )
    }
    emit(options.onEvent, c, 'policy', {
      ...allowEvent(auth),
      ...(decision.reason !== undefined ? { detail: `${name}: ${decision.reason}` } : {}),
    })
    return next()
  }
}
