/**
 * `@keyfob/core`: runtime-agnostic OAuth 2.0 / OpenID Connect flow machines on oauth4webapi —
 * token sets, provider and client resolution, typed errors, redaction and the store contracts.
 * Web APIs only, no Node built-ins. The machines are pure (time is an input); the HTTP interpreter
 * is the one place that does I/O and holds a timer (each request's timeout, cleared when it ends).
 *
 * @module
 */
export {
  authorizationParametersProblem,
  type Grant,
  isProviderId,
  normalizeApiUrl,
  planScope,
  RESERVED_AUTHORIZATION_PARAMETERS,
  type ResolvedProvider,
  resolveClient,
  resolveProvider,
  resourceProblem,
  resourcesOf,
  type ScopeOptions,
  type ScopePlan,
  scopeFor,
  validateConfig,
} from './config.ts'
export {
  type ApiEntry,
  type BasicCredentials,
  type ClientEntry,
  type ConfigStore,
  type DPoPKeyRecord,
  type DPoPSetting,
  emptyConfig,
  type KeyfobConfig,
  type LockOptions,
  type ProviderEntry,
  type TokenEndpointAuthMethod,
  type TokenKey,
  type TokenLocation,
  type TokenRecord,
  type TokenStore,
  type TokenUpdate,
  tokenKeyId,
  updateUnderLock,
} from './contracts.ts'
export {
  DPOP_ALGORITHMS,
  type DPoPKey,
  dpopAlgorithm,
  dpopHandle,
  dpopRequest,
  generateDPoPKey,
  importDPoPKey,
} from './dpop.ts'
export {
  KeyfobError,
  type KeyfobErrorCode,
  type LocalErrorCode,
  type OAuthErrorCode,
  type OAuthErrorEvidence,
  oauthError,
  oauthErrorCode,
} from './errors.ts'
export {
  checkToken,
  clientAuthMethod,
  createPkce,
  type DiscoverOptions,
  discover,
  type FetchLike,
  type HttpContext,
  prepareAuthorization,
  randomState,
  revokeToken,
  runHttpEffect,
  type TokenCheck,
  toFailure,
} from './http.ts'
export {
  type CodeFlowInput,
  type CodeState,
  clientCredentialsFlow,
  codeFlow,
  codeTransition,
  type DeviceAuthorization,
  type DeviceFlowOptions,
  type DeviceState,
  deviceFlow,
  deviceTransition,
  type Effect,
  type Event,
  type Failure,
  passwordFlow,
  type RequestState,
  refreshFlow,
  requestTransition,
  type Step,
  type Terminal,
  type TokenRequest,
} from './machines.ts'
export { fingerprint, redactConfig, redactRecord } from './redact.ts'
export { type TokenResponse, TokenSet } from './tokens.ts'
