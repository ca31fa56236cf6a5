/**
 * `@keyfob/mock-idp`: a strict, fast, scriptable OpenID provider for end-to-end tests of OAuth 2.0
 * and OpenID Connect clients, built on Hono. In-process (`createMockIdp`, no socket) or on a real
 * port (`serve`) on Node, Deno and Bun.
 *
 * @module
 */
export { MockClock } from './clock.ts'
export type { DeviceInfo, DpopNonceInfo, IssueTokenOptions, MockIdpControl, StateStats } from './control.ts'
export { MockIdpError, type MockIdpErrorCode } from './errors.ts'
export type { FaultRule } from './faults.ts'
export type { ClaimOverrides, TokenResponse } from './issuing.ts'
export type { DpopJournal, EndpointName, JournalEntry, JournalFilter } from './journal.ts'
export type { KeyInfo } from './keys.ts'
export { createMockIdp, type MockIdp, type MockIdpFetch, type MockIdpFetchInit } from './mock-idp.ts'
export { type MockIdpServer, type ServeOptions, serve } from './serve.ts'
export type {
  AccessTokenFormat,
  ClientAuthMethod,
  GrantType,
  MockClient,
  MockIdpDpopOptions,
  MockIdpLifetimes,
  MockIdpLimits,
  MockIdpOptions,
  MockIdpStrictness,
  MockUser,
  SigningAlg,
} from './types.ts'
