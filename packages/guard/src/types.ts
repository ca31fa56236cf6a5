/** The shapes every guard middleware shares: the auth result, context variables, events. @module */
import type { Context, MiddlewareHandler } from 'hono'
import type { JWTPayload } from 'jose'
import type { Dependency } from './errors.ts'

/** Which scheme authenticated a request. */
export type SchemeKind = 'apiKey' | 'jwt' | 'introspection'

/**
 * Who made the request, as the guard verified it. `c.var.auth` holds it behind any guard
 * middleware. Raw tokens and keys are never part of it.
 *
 * @typeParam Claims - The shape of the verified claims (JWT payload or introspection response).
 */
export interface AuthInfo<Claims extends Record<string, unknown> = JWTPayload> {
  /** The scheme that authenticated the request. */
  readonly scheme: SchemeKind
  /** The `sub` claim (JWT, introspection); unset for API keys. */
  readonly subject?: string
  /** The verified `iss` claim. */
  readonly issuer?: string
  /** The `aud` claim, always as an array. */
  readonly audience?: readonly string[]
  /** The granted scopes: `scope` (space separated) and `scp` (array or string), de-duplicated. */
  readonly scopes: readonly string[]
  /** Verified claims (JWT payload or introspection response; `{}` for API keys). */
  readonly claims: Claims & JWTPayload
  /** The id of the API key that matched (never the key), e.g. `ci` or `sha256:1a2b3c4d5e6f`. */
  readonly keyId?: string
  /** The `client_id` (or `azp`) claim. */
  readonly clientId?: string
  /** The `kid` of the key that verified a JWT. */
  readonly kid?: string
  /**
   * Set when the request proved possession of the key its access token is bound to (RFC 9449
   * DPoP): `jkt` is that key's JWK SHA-256 thumbprint (the token's `cnf.jkt`).
   */
  readonly dpop?: { readonly jkt: string }
  /** With `guard({ combine: 'all' })`: every scheme's result, in order (this one first). */
  readonly factors?: readonly AuthInfo[]
}

/**
 * The context variables the guard sets; use it as `Variables` of your Hono app's `Env`.
 *
 * `auth` is set on every request the guard let through by authenticating it. It is **unset** on
 * public paths: a handler under a public path must not read it. (CORS preflights never reach a
 * handler: the `corsPreflight` middleware answers them.)
 *
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import type { GuardVariables } from '@keyfob/guard'
 *
 * const app = new Hono<{ Variables: GuardVariables }>()
 * app.get('/me', (c) => c.json({ sub: c.var.auth.subject, scopes: c.var.auth.scopes }))
 * ```
 */
export interface GuardVariables<Claims extends Record<string, unknown> = JWTPayload> {
  /** The verified caller. */
  auth: AuthInfo<Claims>
}

/** A Hono `Env` with {@link GuardVariables}: `new Hono<GuardEnv>()`. */
export interface GuardEnv<Claims extends Record<string, unknown> = JWTPayload> {
  /** The guard's context variables. */
  Variables: GuardVariables<Claims>
}

/** A `fetch` the guard uses for JWKS, discovery, introspection and OPA; default `globalThis.fetch`. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** Why the guard answered as it did; stable strings for logs and metrics. */
export type GuardReason =
  /** The request was authenticated (or authorized). */
  | 'ok'
  /** A public path: passed through without authentication. */
  | 'public'
  /** A CORS preflight answered by the `corsPreflight` middleware. */
  | 'preflight'
  /** No credential for any configured scheme. */
  | 'missing'
  /** The credential is syntactically wrong: not a b64token, two `Authorization` headers, … */
  | 'malformed'
  /** The token or key is longer than the configured maximum. */
  | 'too_large'
  /** The API key matched none of the configured keys. */
  | 'invalid_api_key'
  /** `exp` is in the past (beyond the clock tolerance). */
  | 'expired'
  /** `nbf` or `iat` is in the future (beyond the clock tolerance). */
  | 'not_yet_valid'
  /** The signature does not verify. */
  | 'bad_signature'
  /** The `alg` header is not in the allow-list (`none`, `HS256`, …). */
  | 'bad_alg'
  /** The `iss` claim is not the expected issuer. */
  | 'bad_iss'
  /** The `aud` claim does not contain the expected audience. */
  | 'bad_aud'
  /** The `typ` header is not acceptable. */
  | 'bad_typ'
  /** A required claim (`exp`, `iss`, `aud`, or one from `requiredClaims`) is missing or invalid. */
  | 'bad_claim'
  /** No key in the JWKS matches the token's `kid` (after at most one refetch per cooldown). */
  | 'unknown_kid'
  /** Introspection says the token is not active (or is not an access token). */
  | 'inactive'
  /** The token is opaque and no introspection is configured. */
  | 'opaque_token'
  /** JWKS could not be fetched and no cached key could decide. */
  | 'jwks_unavailable'
  /** The discovery document could not be fetched or was invalid. */
  | 'discovery_unavailable'
  /** The introspection endpoint could not answer and nothing cached could decide. */
  | 'introspection_unavailable'
  /** A required scope is missing. */
  | 'insufficient_scope'
  /** A required claim value is missing or different. */
  | 'claim_mismatch'
  /** The policy engine said no. */
  | 'policy_deny'
  /** The policy engine could not decide (down, timed out, evaluation error): fail closed. */
  | 'policy_unavailable'
  /** `Authorization: DPoP` without a `DPoP` proof header. */
  | 'dpop_proof_missing'
  /** The DPoP proof is malformed, badly typed or signed, uses a refused `alg`, or lacks a claim (`ath`, …). */
  | 'dpop_proof_invalid'
  /** The DPoP proof is for another method (`htm`), URL (`htu`) or access token (`ath`). */
  | 'dpop_proof_mismatch'
  /** The DPoP proof's `iat` is outside the accepted window. */
  | 'dpop_proof_stale'
  /** The DPoP proof's `jti` was seen before. */
  | 'dpop_proof_replayed'
  /** The DPoP proof lacks the current server nonce (answered `use_dpop_nonce`). */
  | 'dpop_nonce'
  /** The DPoP proof is signed by another key than the one the token is bound to (`cnf.jkt`). */
  | 'dpop_key_mismatch'
  /** `Authorization: DPoP` with a token that is not bound to a key. */
  | 'dpop_unbound'
  /** A DPoP-bound token (`cnf.jkt`) sent as `Bearer` (RFC 9449 §7.2). */
  | 'dpop_bound_as_bearer'
  /** `Authorization: Bearer` where `dpop.required` accepts only DPoP. */
  | 'dpop_required'

/**
 * One decision of the guard, for logs and metrics. It never carries a token, key or secret:
 * only who (`subject`, `keyId`), what (`method`, `path`) and why (`reason`, `detail`).
 */
export interface GuardEvent {
  /** `allow`: the request goes on; `deny`: it got 400/401/403; `unavailable`: it got 503. */
  readonly outcome: 'allow' | 'deny' | 'unavailable'
  /** Why. */
  readonly reason: GuardReason
  /** The HTTP status sent (unset for `allow`). */
  readonly status?: number
  /** Which middleware decided: a scheme, `guard`, `requireScopes`, `requireClaims` or `policy`. */
  readonly source: string
  /** The request method. */
  readonly method: string
  /** The request path. */
  readonly path: string
  /** The verified (or, for a rejected token, unverified) `sub`. */
  readonly subject?: string
  /** The verified (or unverified) `iss`. */
  readonly issuer?: string
  /** The `kid` of the token header. */
  readonly kid?: string
  /** The id of the matching API key. */
  readonly keyId?: string
  /** The dependency that failed, for `unavailable`. */
  readonly dependency?: Dependency
  /** A diagnostic for operators (a library error message, a policy's reason); never a secret. */
  readonly detail?: string
}

/**
 * Receives {@link GuardEvent}s; keep it fast (it runs inline) and never let it throw. The second
 * argument is the request's Hono context, so a logger can attach the decision to the request it
 * belongs to (e.g. `c.set(...)` for an access-log line written when the response is done).
 */
export type GuardEventHandler = (event: GuardEvent, c: Context) => void

/**
 * The outcome of one scheme's attempt: the verified caller, or the response to send.
 * @internal
 */
export type SchemeOutcome =
  | {
      readonly ok: true
      readonly auth: AuthInfo<Record<string, unknown>>
      /** Response headers to add once the route answered (a rotated `DPoP-Nonce`). */
      readonly headers?: Readonly<Record<string, string>>
    }
  | { readonly ok: false; readonly denial: Denial }

/** A refusal before it is written to the wire. */
export interface Denial {
  /** 400, 401, 403 or 503. */
  readonly status: 400 | 401 | 403 | 503
  /** The `error` code of the body (and of the challenge, when `challengeError` is true). */
  readonly error: string
  /** The `error_description`: generic text, never a token or an upstream message. */
  readonly description: string
  /** The reason for logs. */
  readonly reason: GuardReason
  /** Put `error=` into the `WWW-Authenticate` challenge (false for a missing credential, RFC 6750 §3.1). */
  readonly challengeError: boolean
  /** The scopes to name in a 403 `insufficient_scope` challenge. */
  readonly scope?: readonly string[]
  /** For 503: the failing dependency. */
  readonly dependency?: Dependency
  /** For 503: `Retry-After` seconds. */
  readonly retryAfterS?: number
  /** Operator diagnostics for the event (never sent to the client). */
  readonly detail?: string
  /** Unverified hints for the event. */
  readonly hints?: DenialHints
  /** The scheme whose challenge carries the error: `DPoP` for a DPoP request; default the scheme's first. */
  readonly scheme?: 'Bearer' | 'DPoP'
  /** A nonce to send as `DPoP-Nonce` (with `use_dpop_nonce`, RFC 9449 §9). */
  readonly dpopNonce?: string
}

/** What a refused credential claimed to be (unverified), for the event only. */
export interface DenialHints {
  /** The claimed `sub`. */
  readonly subject?: string
  /** The claimed `iss`. */
  readonly issuer?: string
  /** The token header's `kid`. */
  readonly kid?: string
}

/**
 * One authentication scheme as {@link guard} composes it. Every scheme middleware
 * (`apiKeyAuth`, `jwtAuth`, `oidcAuth`) carries one as its `scheme` property.
 */
export interface GuardScheme {
  /** The kind of credential. */
  readonly kind: 'apiKey' | 'bearer'
  /** A readable name for messages and events, e.g. `jwtAuth`. */
  readonly name: string
  /** Whether this request carries this scheme's credential (a malformed one counts as present). */
  present(c: Context): boolean
  /** Verifies the credential; never throws for bad input or an unreachable dependency. */
  authenticate(c: Context): Promise<SchemeOutcome>
  /** The `WWW-Authenticate` challenge without parameters for errors, e.g. `Bearer realm="api"`. */
  challenge(): string
  /**
   * Every challenge the scheme offers when it offers more than one (`Bearer` and `DPoP algs="…"`),
   * the one that `denial`'s error belongs to first. Default: `[challenge()]`.
   */
  challenges?(denial?: Denial): readonly string[]
  /** The 401 to send when this scheme is the only one and the request carries no credential. */
  readonly missing?: Denial
  /** Whether `publicPaths`, `corsPreflight` or `onEvent` were set on the scheme's own middleware. */
  readonly hasEntryOptions: boolean
}

/** A middleware for one scheme, with the scheme itself attached so {@link guard} can compose it. */
export type SchemeMiddleware<Claims extends Record<string, unknown> = JWTPayload> = MiddlewareHandler<
  GuardEnv<Claims>
> & {
  /** The scheme, for {@link guard}. */
  readonly scheme: GuardScheme
}

/**
 * A public path: an exact path (`/openapi`), a pattern with `:name` segments
 * (`/collections/:id`) and/or a final `*` segment (`/docs/*`, which matches `/docs/` and
 * below but not `/docs` itself), optionally preceded by one method (`GET /openapi`; `GET` also
 * covers `HEAD`). Matched on the path Hono routes on (`c.req.path`), segment by segment: no
 * regular expressions, no prefix surprises.
 */
export type PublicPath = string

/** Options every entry point (a scheme middleware used alone, or {@link guard}) accepts. */
export interface EntryOptions {
  /** Paths that need no credential. Default none. See {@link PublicPath}. */
  readonly publicPaths?: readonly PublicPath[]
  /**
   * The CORS middleware (`cors({...})` from `hono/cors`) that answers real CORS preflights
   * (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) without a credential. The guard
   * calls only this middleware for them, never the rest of the chain, so a preflight cannot reach
   * a route unauthenticated. Default `false`: `OPTIONS` is authenticated like any other method.
   * (A `cors()` placed **before** the guard answers preflights itself and needs nothing here.)
   */
  readonly corsPreflight?: MiddlewareHandler | false
  /** Receives a {@link GuardEvent} per decision. */
  readonly onEvent?: GuardEventHandler
}
