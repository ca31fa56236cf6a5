/**
 * The mock IdP's clock. Every expiry (tokens, codes, device codes, key grace periods) is measured
 * against it, so a test moves time instead of waiting.
 *
 * @module
 */

/**
 * A clock that follows real time plus an offset, or stands still when frozen.
 *
 * @example
 * ```ts
 * const clock = new MockClock()
 * clock.advance(3_600_000) // an hour later: access tokens issued before are expired
 * ```
 */
export class MockClock {
  #offsetMs = 0
  #frozenAt: number | undefined

  /** The current time in epoch milliseconds. */
  now(): number {
    return this.#frozenAt ?? Date.now() + this.#offsetMs
  }

  /** The current time in whole epoch seconds, as JWT claims carry it. */
  nowSeconds(): number {
    return Math.floor(this.now() / 1000)
  }

  /**
   * Moves the clock to `epochMs`; it keeps ticking from there unless frozen.
   *
   * @param epochMs - The new time in epoch milliseconds.
   * @throws TypeError when `epochMs` is not a finite number.
   */
  set(epochMs: number): void {
    assertFinite(epochMs, 'epochMs')
    if (this.#frozenAt !== undefined) this.#frozenAt = epochMs
    else this.#offsetMs = epochMs - Date.now()
  }

  /**
   * Moves the clock forward (or back, with a negative value).
   *
   * @param ms - How many milliseconds to move.
   * @throws TypeError when `ms` is not a finite number.
   */
  advance(ms: number): void {
    assertFinite(ms, 'ms')
    this.set(this.now() + ms)
  }

  /** Stops the clock at its current time until {@link MockClock.unfreeze}. */
  freeze(): void {
    this.#frozenAt = this.now()
  }

  /** Lets a frozen clock tick again from the time it shows. */
  unfreeze(): void {
    if (this.#frozenAt === undefined) return
    this.#offsetMs = this.#frozenAt - Date.now()
    this.#frozenAt = undefined
  }

  /** Whether the clock is frozen. */
  get frozen(): boolean {
    return this.#frozenAt !== undefined
  }

  /** Back to real time, not frozen. */
  reset(): void {
    this.#offsetMs = 0
    this.#frozenAt = undefined
  }
}

function assertFinite(value: number, name: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`${name} must be a finite number of milliseconds, got ${String(value)}`)
  }
}
