/**
 * `@keyfob/flows`: the drivers that run `@keyfob/core`'s flow machines — HTTP, polling, the
 * loopback redirect server, the browser hook — and a session that keeps a user logged in.
 *
 * @module
 */
export { type OpenBrowser, openCommand, openSystemBrowser } from './browser.ts'
export {
  type BrowserLoginOptions,
  basicAuthorization,
  browserLogin,
  clientCredentials,
  type DeviceCodeDisplay,
  type DeviceLoginOptions,
  type DriverOptions,
  deviceLogin,
  passwordLogin,
  refreshTokens,
} from './drivers.ts'
export {
  type AddressInUse,
  bunListen,
  defaultListen,
  denoListen,
  type Listen,
  type Listener,
  nodeListen,
  type RequestHandler,
} from './listen.ts'
export {
  accountOf,
  clientOf,
  LOGIN_GRANTS,
  type Login,
  type LoginMethod,
  type LoginSelection,
  type LoginStatus,
  loginStatus,
  providerIdsOf,
  renewsByClientCredentials,
  resolveLogin,
  tokenKeyOf,
  unverifiedClaims,
} from './logins.ts'
export { type LoopbackOptions, type LoopbackServer, startLoopbackServer } from './loopback.ts'
export {
  type AdvertisedMergeOptions,
  type AdvertisedProvider,
  discoverOpenEoApi,
  type OpenEoBasicOptions,
  type OpenEoDiscoveryOptions,
  type OpenEoSourceOptions,
  openEoAuthorization,
  openEoBasicLogin,
  openEoBearer,
  openEoProviderSource,
  openEoTokenRejected,
  type ProviderSource,
  parseOpenEoProviders,
  printable,
  withAdvertisedProviders,
} from './providers.ts'
export type { RevocationOutcome, RevocationResult, TokenRevocation } from './revoke.ts'
export { bearerTokenRejected, Session, type SessionOptions } from './session.ts'
