/**
 * A token store that finds each login where it lives: the file store, unless the configuration
 * records that the login lives in the keychain. What a user chose at login is remembered, and no
 * command needs the choice repeated. @module
 */
import {
  type KeyfobConfig,
  type LockOptions,
  type TokenKey,
  type TokenLocation,
  type TokenStore,
  type TokenUpdate,
  tokenKeyId,
} from '@keyfob/core'
import { StoreError } from './errors.ts'

/** Options of {@link locatedTokenStore}. */
export interface LocatedTokenStoreOptions {
  /** Where logins live unless recorded elsewhere: the file store. */
  readonly file: TokenStore
  /** The keychain store, opened only when a recorded login lives there. */
  readonly keychain: () => TokenStore
  /** The recorded locations (the configuration's `tokenLocations`), read on first use. */
  readonly locations: () => Promise<readonly TokenLocation[]>
}

/**
 * Whether a recorded location is the one of a key.
 *
 * @param location - The recorded location.
 * @param key - The login's key.
 * @returns Whether they name the same login.
 * @example
 * ```ts
 * locationIs({ issuer, clientId: 'cli', store: 'keychain' }, { issuer, clientId: 'cli' }) // true
 * ```
 */
export function locationIs(location: TokenLocation, key: TokenKey): boolean {
  return tokenKeyId(location) === tokenKeyId(key)
}

/**
 * The configuration with the location of one login recorded (`keychain`) or forgotten (`file`).
 *
 * @param config - The configuration.
 * @param key - The login's key.
 * @param store - Where its tokens now live.
 * @returns The configuration to write (the same object when nothing changes).
 * @example
 * ```ts
 * await configStore.update((c) => withTokenLocation(c, key, 'keychain'))
 * ```
 */
export function withTokenLocation(
  config: KeyfobConfig,
  key: TokenKey,
  store: 'file' | 'keychain',
): KeyfobConfig {
  const others = (config.tokenLocations ?? []).filter((l) => !locationIs(l, key))
  if (store === 'file' && others.length === (config.tokenLocations ?? []).length) return config
  const { tokenLocations: _, ...rest } = config
  const next = store === 'keychain' ? [...others, { ...key, store }] : others
  return next.length > 0 ? { ...rest, tokenLocations: next } : rest
}

/**
 * A {@link TokenStore} over the file store and the keychain: each key goes to the store its login
 * lives in, as the configuration records it (the file store otherwise), and `list` joins both. The
 * keychain is touched only when a recorded login lives there; when it is unavailable then, the
 * error says that this login lives in the keychain (`ERR_KEYCHAIN_UNAVAILABLE`), instead of an
 * empty file store answering "log in again".
 *
 * @param options - The two stores and the recorded locations.
 * @returns The store; its `kind` is `file`.
 * @example
 * ```ts
 * import { fileTokenStore, keychainTokenStore, locatedTokenStore } from '@keyfob/store'
 * const tokens = locatedTokenStore({
 *   file: fileTokenStore(),
 *   keychain: () => keychainTokenStore(),
 *   locations: async () => (await config.read()).tokenLocations ?? [],
 * })
 * ```
 */
export function locatedTokenStore(options: LocatedTokenStoreOptions): TokenStore {
  let locations: Promise<readonly TokenLocation[]> | undefined
  let keychain: TokenStore | undefined
  const known = () => {
    locations ??= options.locations()
    return locations
  }
  const inKeychain = (): TokenStore => {
    keychain ??= explained(options.keychain())
    return keychain
  }
  const route = async (key: TokenKey): Promise<TokenStore> =>
    (await known()).some((l) => locationIs(l, key)) ? inKeychain() : options.file
  return {
    kind: options.file.kind,
    get: async (key) => (await route(key)).get(key),
    set: async (key, record) => (await route(key)).set(key, record),
    delete: async (key) => (await route(key)).delete(key),
    list: async () => {
      const recorded = await known()
      const fromFile = (await options.file.list()).filter(
        ({ key }) => !recorded.some((l) => locationIs(l, key)),
      )
      if (recorded.length === 0) return fromFile
      const fromKeychain = (await inKeychain().list()).filter(({ key }) =>
        recorded.some((l) => locationIs(l, key)),
      )
      return [...fromFile, ...fromKeychain]
    },
    lock: async <T>(key: TokenKey, fn: () => Promise<T>, lockOptions?: LockOptions) =>
      (await route(key)).lock(key, fn, lockOptions),
    update: async (key: TokenKey, fn: TokenUpdate, lockOptions?: LockOptions) =>
      (await route(key)).update(key, fn, lockOptions),
  }
}

/** The keychain store, its unavailability said as what it means here: a known login is there. */
function explained(store: TokenStore): TokenStore {
  const why = <T>(run: () => Promise<T>): Promise<T> =>
    run().catch((error: unknown) => {
      if (error instanceof StoreError && error.code === 'ERR_KEYCHAIN_UNAVAILABLE')
        throw new StoreError(
          'ERR_KEYCHAIN_UNAVAILABLE',
          `a login recorded as living in the keychain cannot be read: ${error.message}`,
          { cause: error.cause },
        )
      throw error
    })
  return {
    kind: store.kind,
    get: (key) => why(() => store.get(key)),
    set: (key, record) => why(() => store.set(key, record)),
    delete: (key) => why(() => store.delete(key)),
    list: () => why(() => store.list()),
    lock: (key, fn, lockOptions) => why(() => store.lock(key, fn, lockOptions)),
    update: (key, fn, lockOptions) => why(() => store.update(key, fn, lockOptions)),
  }
}
