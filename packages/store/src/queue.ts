/** Holders of one key inside one process, served in order. @module */
import type { StoreError } from './errors.ts'

/** How a queued holder gave up. */
export type GiveUp = 'timeout' | 'abort'

/**
 * A FIFO lock per key inside one process. A waiter that gives up (timeout, abort) leaves the
 * queue without breaking it: the next holder still waits for the one before.
 *
 * @param explain - Builds the error for a waiter that gives up.
 * @returns `(id, fn, options) → fn's result`, run when `id`'s earlier holders are done.
 * @internal
 */
export function keyedQueue(
  explain: (id: string, how: GiveUp, timeoutMs: number) => StoreError,
): <T>(
  id: string,
  fn: () => Promise<T>,
  options?: { readonly timeoutMs?: number; readonly signal?: AbortSignal },
) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>()
  return (id, fn, options = {}) => {
    const previous = tails.get(id) ?? Promise.resolve()
    const timeoutMs = options.timeoutMs ?? 60_000
    const run = turn(
      previous,
      () => explain(id, 'timeout', timeoutMs),
      () => explain(id, 'abort', timeoutMs),
      timeoutMs,
      options.signal,
    ).then(fn)
    const tail = Promise.allSettled([previous, run])
    tails.set(id, tail)
    void tail.then(() => {
      if (tails.get(id) === tail) tails.delete(id)
    })
    return run
  }
}

function turn(
  previous: Promise<unknown>,
  timeout: () => StoreError,
  abort: () => StoreError,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abort())
    const timer = setTimeout(() => {
      cleanup()
      reject(timeout())
    }, timeoutMs)
    const onAbort = () => {
      cleanup()
      reject(abort())
    }
    const cleanup = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    const done = () => {
      cleanup()
      resolve()
    }
    void previous.then(done, done)
  })
}
