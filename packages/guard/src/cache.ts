/** The one bounded, expiring cache the guard keeps (verified tokens, introspection answers). @internal @module */
import { LRUCache } from 'lru-cache'

interface Entry<V> {
  readonly untilMs: number
  readonly value: V
}

/**
 * At most `maxEntries` values, least recently used dropped first (isaacs' `lru-cache`), each
 * valid until an absolute time read from the guard's own clock (so tests and `now` options
 * control expiry, and nothing runs a timer). Values are frozen deeply when stored, so one request
 * cannot change what the next one sees.
 */
export class BoundedCache<V extends object> {
  readonly #lru: LRUCache<string, Entry<V>>

  constructor(maxEntries: number) {
    this.#lru = new LRUCache<string, Entry<V>>({ max: maxEntries })
  }

  /** The value of `key` if it is still valid at `nowMs`; an expired entry is dropped. */
  get(key: string, nowMs: number): V | undefined {
    const entry = this.#lru.get(key)
    if (entry === undefined) return undefined
    if (entry.untilMs <= nowMs) {
      this.#lru.delete(key)
      return undefined
    }
    return entry.value
  }

  /** Stores `value` until `untilMs`; a value already expired at `nowMs` is not stored. */
  set(key: string, value: V, untilMs: number, nowMs: number): void {
    if (untilMs <= nowMs) return
    this.#lru.set(key, { untilMs, value: deepFreeze(value) })
  }

  /** The value of `key`, expired or not, without counting as a use. */
  peek(key: string): V | undefined {
    return this.#lru.peek(key)?.value
  }

  /** Forgets `key`. */
  delete(key: string): void {
    this.#lru.delete(key)
  }

  /** How many entries are held (expired ones included until they are read or pushed out). */
  get size(): number {
    return this.#lru.size
  }
}

/** Freezes a JSON-like value, so one request cannot change what the next sees. @internal */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const inner of Object.values(value)) deepFreeze(inner)
  }
  return value
}
