/** The store's typed errors. @module */

/** Every code a {@link StoreError} can carry. Switch on it; never on the message. */
export type StoreErrorCode =
  /** A token or config file is readable or writable by group or others. */
  | 'ERR_INSECURE_PERMISSIONS'
  /** A file is not valid JSON or not in a known shape; it was moved aside. */
  | 'ERR_CORRUPT_FILE'
  /**
   * A keychain entry is not in a known shape, or its parts do not fit together even when read
   * under the writers' lock. Delete it (keyfob: `token-clear`) and log in again.
   */
  | 'ERR_CORRUPT_ENTRY'
  /** Another holder kept the lock longer than the wait allowed. */
  | 'ERR_LOCK_TIMEOUT'
  /** No usable OS keychain: none installed, none running, locked, or not answering in time. */
  | 'ERR_KEYCHAIN_UNAVAILABLE'
  /** A value does not fit in the keychain even in chunks. */
  | 'ERR_VALUE_TOO_LARGE'
  /** A file could not be read or written (disk full, read-only, permission denied). */
  | 'ERR_STORE'
  /** An import source is missing or malformed. */
  | 'ERR_IMPORT'
  /** Waiting was cancelled through an `AbortSignal`. */
  | 'ERR_ABORTED'

/**
 * The one error class of `@keyfob/store`. The message says what was wrong, with which path or
 * mode, and what to do; `cause` holds the evidence (paths, modes, the underlying error code). A
 * secret never appears in either.
 *
 * @example
 * ```ts
 * import { StoreError } from '@keyfob/store'
 * try {
 *   await store.get(key)
 * } catch (e) {
 *   if (e instanceof StoreError && e.code === 'ERR_INSECURE_PERMISSIONS') console.error(e.message)
 * }
 * ```
 */
export class StoreError extends Error {
  /** The stable code. */
  readonly code: StoreErrorCode

  /**
   * @param code - The stable code.
   * @param message - What was wrong and what to do.
   * @param options - `cause`: the evidence, never a secret.
   */
  constructor(code: StoreErrorCode, message: string, options?: { readonly cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = this.constructor.name
  }
}

/** The errno-style code of a Node system error, if any. @internal */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : undefined
}
