/** A state map that cannot grow without bound: expiry on the IdP's clock and a size cap. @module */

/** Something that expires, in epoch milliseconds of the IdP's clock. @internal */
export interface Expiring {
  readonly expMs: number
}

/**
 * A `Map` with a cap and expiry. Entries are kept in insertion order in a queue beside the map;
 * every `set` evicts the oldest entries while the map is over its cap, then prunes at most two
 * expired entries from the front of the queue (amortised O(1): the records of one map share a
 * lifetime, so insertion order is expiry order). An expired entry is kept `retainMs` longer, so a
 * client still gets "expired" rather than "unknown" for a while. @internal
 */
export class BoundedMap<K, V extends Expiring> {
  readonly #map = new Map<K, V>()
  // Consumed slots are cleared at once: an evicted record must not stay reachable from the queue.
  #keys: Array<K | undefined> = []
  #values: Array<V | undefined> = []
  #head = 0
  readonly #limit: number
  readonly #now: () => number
  readonly #retainMs: number
  readonly #onEvict: ((value: V) => void) | undefined

  /**
   * @param limit - The most entries the map holds.
   * @param now - The IdP's clock.
   * @param retainMs - How long an expired entry is kept.
   * @param onEvict - Called for every entry removed by the cap or by expiry (not by `delete`).
   */
  constructor(limit: number, now: () => number, retainMs = 0, onEvict?: (value: V) => void) {
    this.#limit = limit
    this.#now = now
    this.#retainMs = retainMs
    this.#onEvict = onEvict
  }

  get size(): number {
    return this.#map.size
  }

  get(key: K): V | undefined {
    return this.#map.get(key)
  }

  has(key: K): boolean {
    return this.#map.has(key)
  }

  delete(key: K): boolean {
    return this.#map.delete(key)
  }

  clear(): void {
    this.#map.clear()
    this.#keys = []
    this.#values = []
    this.#head = 0
  }

  values(): MapIterator<V> {
    return this.#map.values()
  }

  set(key: K, value: V): this {
    this.#map.set(key, value)
    this.#keys.push(key)
    this.#values.push(value)
    this.#prune()
    return this
  }

  #prune(): void {
    const map = this.#map
    let expiredBudget = 2
    let now: number | undefined
    while (this.#head < this.#keys.length) {
      const key = this.#keys[this.#head] as K
      const value = this.#values[this.#head] as V
      if (map.get(key) !== value) {
        // Deleted or replaced since: a stale queue slot.
        this.#consume()
        continue
      }
      if (map.size > this.#limit) {
        this.#evict(key, value)
        continue
      }
      now ??= this.#now()
      if (expiredBudget > 0 && value.expMs + this.#retainMs <= now) {
        expiredBudget--
        this.#evict(key, value)
        continue
      }
      break
    }
    this.#compact()
  }

  #evict(key: K, value: V): void {
    this.#map.delete(key)
    this.#consume()
    this.#onEvict?.(value)
  }

  #consume(): void {
    this.#keys[this.#head] = undefined
    this.#values[this.#head] = undefined
    this.#head++
  }

  /** Drops consumed queue slots, and stale ones once they outnumber the live entries. */
  #compact(): void {
    const length = this.#keys.length
    if (this.#head > 1024 && this.#head * 2 > length) {
      this.#keys = this.#keys.slice(this.#head)
      this.#values = this.#values.slice(this.#head)
      this.#head = 0
    } else if (length - this.#head > 2 * this.#map.size + 1024) {
      const keys: Array<K | undefined> = []
      const values: Array<V | undefined> = []
      for (let i = this.#head; i < length; i++) {
        const key = this.#keys[i] as K
        const value = this.#values[i] as V
        if (this.#map.get(key) === value) {
          keys.push(key)
          values.push(value)
        }
      }
      this.#keys = keys
      this.#values = values
      this.#head = 0
    }
  }
}
