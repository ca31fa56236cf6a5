/** In-memory stores: for tests, short-lived processes, and as the last link of a chain. @module */
import {
  type ConfigStore,
  emptyConfig,
  type KeyfobConfig,
  type TokenKey,
  type TokenRecord,
  type TokenStore,
  tokenKeyId,
  updateUnderLock,
  validateConfig,
} from '@keyfob/core'
import { StoreError } from './errors.ts'
import { keyedQueue } from './queue.ts'

/**
 * Tokens in a `Map`: gone when the process ends. Records are copied in and out, so a caller
 * cannot change what is stored by mutating an object.
 *
 * @returns The store (`kind: 'memory'`).
 * @example
 * ```ts
 * import { memoryTokenStore } from '@keyfob/store'
 * const store = memoryTokenStore()
 * ```
 */
export function memoryTokenStore(): TokenStore {
  const entries = new Map<string, { key: TokenKey; record: TokenRecord }>()
  const queue = keyedQueue((_id, how, timeoutMs) =>
    how === 'abort'
      ? new StoreError('ERR_ABORTED', 'waiting for a token lock was cancelled')
      : new StoreError(
          'ERR_LOCK_TIMEOUT',
          `gave up after ${timeoutMs} ms waiting for a token lock held in this process`,
        ),
  )
  const copy = <T>(value: T): T => structuredClone(value)
  const store: TokenStore = {
    kind: 'memory',
    async get(key) {
      const entry = entries.get(tokenKeyId(key))
      return entry ? copy(entry.record) : undefined
    },
    async set(key, record) {
      entries.set(tokenKeyId(key), { key: copy(key), record: copy(record) })
    },
    async delete(key) {
      return entries.delete(tokenKeyId(key))
    },
    async list() {
      return [...entries.values()].map((e) => copy(e))
    },
    lock(key, fn, options) {
      return queue(tokenKeyId(key), fn, options)
    },
    update(key, fn, options) {
      return updateUnderLock(store, key, fn, options)
    },
  }
  return store
}

/**
 * A configuration in memory, validated on every update.
 *
 * @param initial - The starting configuration; default empty.
 * @returns The store (`kind: 'memory'`).
 * @throws KeyfobError `ERR_INVALID_CONFIG` for an invalid `initial` (and from `update`).
 * @example
 * ```ts
 * import { memoryConfigStore } from '@keyfob/store'
 * const config = memoryConfigStore()
 * ```
 */
export function memoryConfigStore(initial: KeyfobConfig = emptyConfig()): ConfigStore {
  let current = validateConfig(structuredClone(initial))
  let chain: Promise<unknown> = Promise.resolve()
  return {
    kind: 'memory',
    async read() {
      return structuredClone(current)
    },
    update(fn) {
      const next = chain.then(() => {
        current = validateConfig(fn(structuredClone(current)))
        return structuredClone(current)
      })
      chain = next.catch(() => {})
      return next
    },
  }
}
