/**
 * The storage contracts that `@keyfob/store` implements and `@keyfob/flows` consumes.
 *
 * `core` defines the shapes only: it never touches a disk or a keychain.
 *
 * @module
 */

/**
 * Identifies one stored credential. Two credentials with the same issuer and client id but a
 * different `account` are independent (several accounts per provider).
 */
export interface TokenKey {
  /** The issuer identifier exactly as configured (the key openEO uses too). */
  readonly issuer: string
  /** The OAuth `client_id` the tokens were issued to. */
  readonly clientId: string
  /** A local account label; omitted means the default account. */
  readonly account?: string
}

/**
 * What a token store keeps for one {@link TokenKey}: plain JSON data, so every adapter can
 * persist it as is. Times are epoch milliseconds.
 */
export interface TokenRecord {
  /** The last access token, so a valid one can be answered without a network call. */
  readonly accessToken?: string
  /** The token type as the server sent it, lower-cased (`bearer`, `dpop`). */
  readonly tokenType?: string
  /** When the access token expires (epoch ms), from `expires_in` and the clock at issue. */
  readonly expiresAt?: number
  /** The refresh token, the long-lived secret. */
  readonly refreshToken?: string
  /** When the refresh token expires (epoch ms), from a non-standard `refresh_expires_in`. */
  readonly refreshExpiresAt?: number
  /** The last ID token (a JWT), kept for `id_token_hint` at logout and for `status`. */
  readonly idToken?: string
  /** The scope the server granted, space separated. */
  readonly scope?: string
  /**
   * The login's DPoP key (RFC 9449), when its tokens are bound to one: a secret like the refresh
   * token, kept with it (the file store's 0600 file, the keychain's secret) and removed with it.
   * A refresh keeps it.
   */
  readonly dpopKey?: DPoPKeyRecord
  /** When this record was written (epoch ms). */
  readonly updatedAt: number
}

/**
 * A DPoP private key as stored: its JWS algorithm and its private JWK (string members only). In
 * memory it becomes a non-extractable `CryptoKey` (`importDPoPKey`).
 */
export interface DPoPKeyRecord {
  /** The JWS algorithm the proofs are signed with, e.g. `ES256`. */
  readonly alg: string
  /** The private key as a JWK (`kty`, `crv`, `x`, `y`, `d`, …): a secret. */
  readonly jwk: Readonly<Record<string, string>>
}

/**
 * Whether a provider's logins are DPoP-bound (RFC 9449): `true` to sign proofs with the first
 * algorithm of keyfob's preference the provider advertises, or `{ alg }` to name the algorithm
 * (used as named, also when the provider advertises none).
 */
export type DPoPSetting = boolean | { readonly alg?: string }

/** Options for {@link TokenStore.lock}. */
export interface LockOptions {
  /** Give up waiting for the lock when this signal aborts. */
  readonly signal?: AbortSignal
  /** Give up waiting after this many milliseconds (adapter default when omitted). */
  readonly timeoutMs?: number
}

/**
 * What {@link TokenStore.update} applies to the stored record: it gets the current record
 * (`undefined` when there is none) and answers the record to store, the same object to leave it
 * as it is, or `undefined` to delete it. It may be async (a refresh over the network), and holds
 * the key's lock while it runs.
 */
export type TokenUpdate = (
  current: TokenRecord | undefined,
) => TokenRecord | undefined | Promise<TokenRecord | undefined>

/**
 * Where tokens live. Implementations: `memoryTokenStore`, `fileTokenStore`, `keychainTokenStore`
 * in `@keyfob/store`.
 *
 * Every method is atomic on its own. `lock` gives exclusive access to one key across every
 * holder of the same store (for the file store: across processes), which is what makes "one
 * refresh at a time" possible.
 *
 * **The `get` + `set` trap.** `get` then `set` is not a read-modify-write: another process can
 * write between the two, and its change is lost (16 processes × 50 such updates lost 750 of 800
 * in a test). Change a record that depends on the stored one with {@link TokenStore.update}, or
 * call `get` and `set` inside {@link TokenStore.lock}.
 */
export interface TokenStore {
  /** A short name for messages: `memory`, `file`, `keychain`. */
  readonly kind: string
  /** The record for `key`, or `undefined` when there is none. */
  get(key: TokenKey): Promise<TokenRecord | undefined>
  /** Replaces the record for `key`. Not ordered with an {@link TokenStore.update} of another holder: see the get + set trap above. */
  set(key: TokenKey, record: TokenRecord): Promise<void>
  /** Removes the record for `key`; resolves `true` when there was one. */
  delete(key: TokenKey): Promise<boolean>
  /** Every stored key with its record. */
  list(): Promise<Array<{ readonly key: TokenKey; readonly record: TokenRecord }>>
  /**
   * Runs `fn` while holding the exclusive lock for `key`, and releases it however `fn` ends.
   * Waiting is bounded: the adapter rejects with a typed timeout error. Not reentrant: inside
   * `fn`, use `get`, `set` and `delete`, not `lock` or `update` of the same key.
   */
  lock<T>(key: TokenKey, fn: () => Promise<T>, options?: LockOptions): Promise<T>
  /**
   * An atomic read-modify-write of one record, as {@link ConfigStore.update} is for the
   * configuration: under `key`'s lock, reads the record, applies `fn`, and stores what it answers
   * (the same object: nothing is written; `undefined`: the record is deleted). Concurrent updates
   * of the same key, in this process or another, are applied one after the other and none is
   * lost. Not reentrant, like {@link TokenStore.lock}. {@link updateUnderLock} implements it for
   * any store from its other methods.
   *
   * @param key - The record to change.
   * @param fn - Current record → next record, same record, or `undefined` to delete.
   * @param options - Bounds the wait for the lock, as for {@link TokenStore.lock}.
   * @returns The record stored afterwards (`undefined` when there is none).
   */
  update(key: TokenKey, fn: TokenUpdate, options?: LockOptions): Promise<TokenRecord | undefined>
}

/**
 * {@link TokenStore.update} built from a store's `lock`, `get`, `set` and `delete`: correct for
 * every store whose lock holds across all its users. A custom store can use it as its `update`.
 *
 * @param store - The store; its `get`, `set` and `delete` must work inside its `lock`.
 * @param key - The record to change.
 * @param fn - Current record → next record, the same object to write nothing, `undefined` to delete.
 * @param options - Bounds the wait for the lock.
 * @returns The record stored afterwards.
 * @throws Whatever the store's `lock`, `get`, `set` or `delete` throw (the stores of
 *   `@keyfob/store`: `StoreError` `ERR_LOCK_TIMEOUT`, `ERR_ABORTED`), and what `fn` throws (then
 *   nothing is written).
 * @example
 * ```ts
 * import { type TokenStore, updateUnderLock } from '@keyfob/core'
 * declare const base: Omit<TokenStore, 'update'>
 * const store: TokenStore = { ...base, update: (key, fn, options) => updateUnderLock(store, key, fn, options) }
 * ```
 */
export function updateUnderLock(
  store: Pick<TokenStore, 'lock' | 'get' | 'set' | 'delete'>,
  key: TokenKey,
  fn: TokenUpdate,
  options?: LockOptions,
): Promise<TokenRecord | undefined> {
  return store.lock(
    key,
    async () => {
      const current = await store.get(key)
      const next = await fn(current)
      if (next === undefined) {
        if (current !== undefined) await store.delete(key)
      } else if (next !== current) await store.set(key, next)
      return next
    },
    options,
  )
}

/**
 * Where configuration lives. `update` is an atomic read-modify-write: concurrent updaters lose
 * nothing.
 */
export interface ConfigStore {
  /** A short name for messages: `memory`, `file`. */
  readonly kind: string
  /** The current configuration ({@link emptyConfig} when nothing is stored yet). */
  read(): Promise<KeyfobConfig>
  /** Applies `fn` to the current configuration under a lock, persists and returns the result. */
  update(fn: (current: KeyfobConfig) => KeyfobConfig): Promise<KeyfobConfig>
}

/** One client registered at a provider. */
export interface ClientEntry {
  readonly clientId: string
  /** Present for confidential clients only. Redacted in every dump. */
  readonly clientSecret?: string
  /**
   * How the client authenticates at the token endpoint (RFC 7591 §2 names):
   * `client_secret_basic`, `client_secret_post` or `none`. Default: from the provider's
   * `token_endpoint_auth_methods_supported` (see `clientAuthMethod`).
   */
  readonly tokenEndpointAuthMethod?: TokenEndpointAuthMethod
  /** The grants this client may use, in openEO's vocabulary (`urn:…:device_code+pkce`, …). */
  readonly grantTypes?: readonly string[]
}

/** The ways a client authenticates at the token endpoint that keyfob speaks (RFC 7591 §2 names). */
export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

/** One OpenID provider (or plain OAuth 2.0 authorization server) in the configuration. */
export interface ProviderEntry {
  /** The issuer identifier; discovery is `issuer + /.well-known/openid-configuration`. */
  readonly issuer: string
  /** A human title, shown in lists. */
  readonly title?: string
  /** Scopes to ask for on top of `openid`. */
  readonly scopes?: readonly string[]
  /** The client to use unless one is named explicitly. */
  readonly client?: ClientEntry
  /** Clients the API advertises (openEO's `default_clients`), filtered by grant at use. */
  readonly defaultClients?: readonly ClientEntry[]
  /** Extra parameters for the authorization and device-authorization requests. */
  readonly authorizationParameters?: Readonly<Record<string, string>>
  /**
   * The loopback port of the browser login's redirect URI, for a provider that registers exact
   * redirect URIs (`http://127.0.0.1:<port>/callback`); default a free port.
   */
  readonly redirectPort?: number
  /**
   * DPoP-bound logins (RFC 9449): a key pair per login, kept with its tokens; every token request
   * and every API request carries a proof. Default off.
   */
  readonly dpop?: DPoPSetting
  /**
   * Pushed authorization requests (RFC 9126) for the browser login: `'auto'` (default) pushes when
   * the provider requires it (`require_pushed_authorization_requests`), `true` always (the
   * provider must have a `pushed_authorization_request_endpoint`), `false` never.
   */
  readonly par?: boolean | 'auto'
  /**
   * Resource indicators (RFC 8707): the APIs (absolute URIs, no fragment) the tokens are for. All
   * go with the authorization and device-authorization requests; the first one with the token
   * requests, so the login's access token is for it. A token for another one comes from a refresh
   * that names it (`Session.accessToken({ resource })`).
   */
  readonly resource?: string | readonly string[]
}

/** HTTP Basic credentials for an API that uses them (openEO's `/credentials/basic`). */
export interface BasicCredentials {
  readonly username: string
  /** Redacted in every dump. */
  readonly password: string
}

/** How to authenticate against one API (keyed by its normalized base URL). */
export interface ApiEntry {
  /** The provider ids this API accepts, in the API's order. */
  readonly providers?: readonly string[]
  /** The provider to use for this API unless one is named explicitly. */
  readonly defaultProvider?: string
  /** Basic credentials, when the API uses them. */
  readonly basic?: BasicCredentials
}

/** Where one login's tokens live, when not in the file store. */
export interface TokenLocation {
  /** The login's issuer. */
  readonly issuer: string
  /** The login's client id. */
  readonly clientId: string
  /** The login's account label; omitted for the default account. */
  readonly account?: string
  /** The store that holds it. */
  readonly store: 'keychain'
}

/** The whole configuration file, schema version 1. */
export interface KeyfobConfig {
  /** The schema version; readers accept newer versions and keep unknown fields. */
  readonly version: 1
  /** Provider id → provider. */
  readonly providers: Readonly<Record<string, ProviderEntry>>
  /** API base URL → API settings. */
  readonly apis: Readonly<Record<string, ApiEntry>>
  /** The provider used when none is named and there are several. */
  readonly defaultProvider?: string
  /** The account label used when none is named. */
  readonly defaultAccount?: string
  /**
   * The logins whose tokens live in another store than the file store (`keyfob login --store
   * keychain` records them), so that every later command finds them without being told.
   */
  readonly tokenLocations?: readonly TokenLocation[]
}

/**
 * A configuration with nothing in it.
 *
 * @returns A fresh, empty schema-version-1 configuration.
 * @example
 * ```ts
 * import { emptyConfig } from '@keyfob/core'
 * const config = emptyConfig()
 * config.providers // {}
 * ```
 */
export function emptyConfig(): KeyfobConfig {
  return { version: 1, providers: {}, apis: {} }
}

/**
 * A stable string form of a {@link TokenKey}, for maps and file keys.
 *
 * @param key - The key to encode.
 * @returns `issuer␟clientId␟account` with the unit separator, never ambiguous.
 * @example
 * ```ts
 * import { tokenKeyId } from '@keyfob/core'
 * tokenKeyId({ issuer: 'https://idp.example', clientId: 'cli' }) // 'https://idp.example\u001fcli\u001f'
 * ```
 */
export function tokenKeyId(key: TokenKey): string {
  return `${key.issuer}\u001f${key.clientId}\u001f${key.account ?? ''}`
}
