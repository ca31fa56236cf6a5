/** An explicit, opt-in chain of token stores: the first that works is used, and you are told which. @module */
import type { LockOptions, TokenKey, TokenStore, TokenUpdate } from '@keyfob/core'

/** Why a store of the chain was passed over. */
export interface SkippedStore {
  /** The store's `kind`. */
  readonly kind: string
  /** Its error code (e.g. `ERR_KEYCHAIN_UNAVAILABLE`). */
  readonly code: string
  /** Its message, which says what to install or unlock. */
  readonly message: string
}

/** Options of {@link fallbackTokenStore}. */
export interface FallbackOptions {
  /** Told once which store is used and why the ones before it were not (e.g. to print a warning). */
  readonly onSelect?: (selected: TokenStore, skipped: readonly SkippedStore[]) => void
}

/** A {@link TokenStore} that is one of several. */
export interface FallbackTokenStore extends TokenStore {
  /**
   * Probes the chain once (a store with a `probe()` method is probed; one without is taken as
   * working) and answers the store in use.
   *
   * @throws The last store's error when none works.
   */
  selected(): Promise<TokenStore>
}

/**
 * The first working store of `stores`, chosen on first use: e.g. `[keychainTokenStore(),
 * fileTokenStore()]` uses the keychain where there is one and the file elsewhere, and says so
 * through `onSelect`. A fallback never happens silently and never later: once chosen, a store's
 * failures are reported as they are.
 *
 * @param stores - The chain, in order of preference; at least one.
 * @param options - `onSelect` to learn the choice.
 * @returns The store; its `kind` is `auto` until chosen, then the chosen store's.
 * @throws TypeError for an empty chain.
 * @example
 * ```ts
 * import { fallbackTokenStore, fileTokenStore, keychainTokenStore } from '@keyfob/store'
 * const store = fallbackTokenStore([keychainTokenStore(), fileTokenStore()], {
 *   onSelect: (s, skipped) => skipped.length && console.warn(`using the ${s.kind} store: ${skipped[0]?.message}`),
 * })
 * ```
 */
export function fallbackTokenStore(
  stores: readonly TokenStore[],
  options: FallbackOptions = {},
): FallbackTokenStore {
  if (stores.length === 0) throw new TypeError('fallbackTokenStore needs at least one store')
  let choice: Promise<TokenStore> | undefined
  let chosen: TokenStore | undefined
  const selected = (): Promise<TokenStore> => {
    choice ??= (async () => {
      const skipped: SkippedStore[] = []
      for (const [i, store] of stores.entries()) {
        const probe = (store as { probe?: () => Promise<void> }).probe
        try {
          if (probe && i < stores.length - 1) await probe.call(store)
          chosen = store
          options.onSelect?.(store, skipped)
          return store
        } catch (error) {
          skipped.push({
            kind: store.kind,
            code: String((error as { code?: unknown }).code ?? 'ERR_STORE'),
            message: error instanceof Error ? error.message : String(error),
          })
        }
      }
      throw new Error('unreachable: the last store is never probed')
    })()
    return choice
  }
  return {
    get kind() {
      return chosen?.kind ?? 'auto'
    },
    selected,
    get: async (key: TokenKey) => (await selected()).get(key),
    set: async (key, record) => (await selected()).set(key, record),
    delete: async (key) => (await selected()).delete(key),
    list: async () => (await selected()).list(),
    lock: async <T>(key: TokenKey, fn: () => Promise<T>, lockOptions?: LockOptions) =>
      (await selected()).lock(key, fn, lockOptions),
    update: async (key: TokenKey, fn: TokenUpdate, lockOptions?: LockOptions) =>
      (await selected()).update(key, fn, lockOptions),
  }
}
