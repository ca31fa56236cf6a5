/**
 * `@keyfob/guard`: Hono middleware that protects an API with API keys, JWTs verified against a
 * JWKS, or OpenID Connect (discovery + RFC 7662 introspection), and authorizes with scopes,
 * claims and policies (OPA over REST here; Cedar in `@keyfob/guard/cedar`). Errors follow RFC
 * 6750; bad configuration fails at startup with a {@link GuardError}.
 *
 * @module
 */

export type { AsymmetricAlgorithm } from './algorithms.ts'
export { type ApiKeyAuthOptions, type ApiKeyEntry, type ApiKeyHashEntry, apiKeyAuth } from './api-key.ts'
export {
  type AuthorizeOptions,
  type ClaimCheck,
  type PolicyDecision,
  type PolicyEngine,
  type PolicyRequest,
  policy,
  type RequireScopesOptions,
  requireClaims,
  requireScopes,
} from './authorize.ts'
export {
  DEFAULT_DPOP_ALGORITHMS,
  type DpopAlgorithm,
  type DpopNonceOptions,
  type DpopOptions,
} from './dpop.ts'
export type { Combine } from './entry.ts'
export { type Dependency, GuardError, type GuardErrorCode } from './errors.ts'
export { type GuardOptions, guard, type SchemeCarrier } from './guard.ts'
export {
  DEFAULT_ALGORITHMS,
  type JwksOptions,
  type JwtAlgorithm,
  type JwtAuthOptions,
  type JwtValidationOptions,
  jwtAuth,
  type TypPolicy,
  type VerifiedTokenCacheOptions,
  type WaivableCheck,
} from './jwt.ts'
export { type IntrospectionOptions, type OidcAuthOptions, oidcAuth } from './oidc.ts'
export { type OpaPolicyOptions, opaInput, opaPolicy } from './opa.ts'
export {
  type ProtectedResourceMetadata,
  type ProtectedResourceMetadataOptions,
  protectedResourceMetadata,
} from './resource.ts'
export type {
  AuthInfo,
  Denial,
  DenialHints,
  EntryOptions,
  FetchLike,
  GuardEnv,
  GuardEvent,
  GuardEventHandler,
  GuardReason,
  GuardScheme,
  GuardVariables,
  PublicPath,
  SchemeKind,
  SchemeMiddleware,
  SchemeOutcome,
} from './types.ts'
