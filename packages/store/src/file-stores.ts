/**
 * The file stores: `tokens.json` in the data directory and `config.json` in the configuration
 * directory. Every change is a read-modify-write under the file's lock, written atomically, so
 * concurrent processes lose nothing; reads take no lock (a rename is atomic).
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import {
  type ConfigStore,
  emptyConfig,
  type KeyfobConfig,
  KeyfobError,
  type LockOptions,
  type TokenKey,
  type TokenRecord,
  type TokenStore,
  tokenKeyId,
  updateUnderLock,
  validateConfig,
} from '@keyfob/core'
import { type FileLockOptions, withFileLock } from './lock.ts'
import { defaultPaths } from './paths.ts'
import { readPrivateJson, removeStaleTemps, writePrivateJson } from './private-json.ts'
import {
  describeKey,
  keyProblem,
  onceEach,
  recordProblem,
  type WarningHandler,
  warnOnConsole,
} from './records.ts'

/** One stored credential in `tokens.json`. Unknown fields are kept on rewrite. */
interface TokenEntry {
  readonly issuer: string
  readonly clientId: string
  readonly account?: string
  readonly record: TokenRecord
  readonly [unknown: string]: unknown
}

/** `tokens.json`, schema version 1. A newer version is read, and its unknown fields kept. */
interface TokenFile {
  readonly version: number
  readonly tokens: readonly TokenEntry[]
  readonly [unknown: string]: unknown
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Checks the shape of `tokens.json` as a whole, naming the first problem (never a value). Entries
 * are checked one by one when used ({@link entryProblem}): one bad entry does not cost the others.
 */
function validateTokenFile(value: unknown): TokenFile {
  if (!isObject(value)) throw new Error('the root must be an object')
  if (typeof value.version !== 'number' || !Number.isInteger(value.version) || value.version < 1)
    throw new Error('"version" must be an integer ≥ 1')
  if (!Array.isArray(value.tokens)) throw new Error('"tokens" must be an array')
  return value as unknown as TokenFile
}

/** What is wrong with one entry of `tokens.json`, or `undefined`. */
function entryProblem(entry: unknown): { field: string; why: string } | undefined {
  if (!isObject(entry)) return { field: 'entry', why: 'must be an object' }
  return keyProblem(entry) ?? recordProblem(entry.record)
}

const sameKey = (entry: TokenEntry, key: TokenKey) =>
  isObject(entry) &&
  entry.issuer === key.issuer &&
  entry.clientId === key.clientId &&
  (entry.account ?? '') === (key.account ?? '')

const keyOf = (entry: Pick<TokenEntry, 'issuer' | 'clientId' | 'account'>): TokenKey => ({
  issuer: entry.issuer,
  clientId: entry.clientId,
  ...(entry.account !== undefined && entry.account !== '' ? { account: entry.account } : {}),
})

/** Options of {@link fileTokenStore}. */
export interface FileTokenStoreOptions {
  /** The data directory; default {@link defaultPaths}'s (`$KEYFOB_DATA_DIR`, XDG, …). */
  readonly dir?: string
  /** How long a change waits for the file's lock; default 10 000 ms. */
  readonly lockTimeoutMs?: number
  /** How long {@link TokenStore.lock} waits by default; default 60 000 ms (a refresh may be slow). */
  readonly keyLockTimeoutMs?: number
  /** Take over a lock older than this; default 60 000 ms. */
  readonly staleLockMs?: number
  /**
   * Told about each entry of `tokens.json` skipped because it is not in the known shape (once per
   * entry and problem), with the file and the key; default a line on `console.warn`.
   */
  readonly onWarning?: WarningHandler
}

/** A {@link TokenStore} on disk, with the path of its file. */
export interface FileTokenStore extends TokenStore {
  /** The `tokens.json` path. */
  readonly path: string
}

/**
 * Tokens in `tokens.json` (mode 0600, directory 0700). Safe for many processes at once: changes
 * happen under an advisory lock and are written atomically; `lock(key)` is a per-key lock across
 * processes, which is what makes one refresh between many processes possible.
 *
 * Every entry is checked field by field when read: one that is not in the known shape (say a
 * string `expiresAt`) is skipped — `get` answers `undefined`, `list` leaves it out — and reported
 * once through `onWarning` with the file and the key; it stays in the file until a `set` or
 * `delete` of its key replaces it. Every change (`set`, `delete`, `update`, even a `delete` that
 * finds nothing) first removes the temp files of writers killed mid-write — full copies of the
 * file — so `logout` and `token-clear` leave no copy of a refresh token behind.
 *
 * @param options - Directory and lock timing.
 * @returns The store.
 * @throws StoreError from its methods: `ERR_INSECURE_PERMISSIONS` (a file others may read), `ERR_CORRUPT_FILE` (moved aside), `ERR_LOCK_TIMEOUT`, `ERR_STORE`.
 * @example
 * ```ts
 * import { fileTokenStore } from '@keyfob/store'
 * const store = fileTokenStore() // ~/.local/share/keyfob/tokens.json
 * await store.set({ issuer, clientId: 'cli' }, tokens.toRecord())
 * ```
 */
export function fileTokenStore(options: FileTokenStoreOptions = {}): FileTokenStore {
  const dir = options.dir ?? defaultPaths().dataDir
  const path = join(dir, 'tokens.json')
  const fileLock: FileLockOptions = {
    timeoutMs: options.lockTimeoutMs ?? 10_000,
    ...(options.staleLockMs !== undefined ? { staleMs: options.staleLockMs } : {}),
  }
  const warn = onceEach(options.onWarning ?? warnOnConsole)
  const read = async (): Promise<TokenFile> =>
    (await readPrivateJson(path, validateTokenFile)) ?? { version: 1, tokens: [] }
  /** The entries in the known shape; each other one is reported and skipped. */
  const usable = (file: TokenFile): TokenEntry[] =>
    file.tokens.filter((entry, i) => {
      const problem = entryProblem(entry)
      if (problem === undefined) return true
      const key = isObject(entry) && keyProblem(entry) === undefined ? keyOf(entry) : undefined
      warn({
        code: 'WARN_INVALID_RECORD',
        message: `${path}: the token ${key ? `of ${describeKey(key)}` : `at tokens[${i}]`} was skipped: its ${problem.field} ${problem.why}; log in again to replace it`,
        source: path,
        field: problem.field,
        ...(key ? { key } : {}),
      })
      return false
    })
  const change = <T>(fn: (file: TokenFile) => { next?: TokenFile; result: T }): Promise<T> =>
    withFileLock(
      `${path}.lock`,
      async () => {
        const { next, result } = fn(await read())
        // Writing removes what killed writers left; a change that writes nothing removes it too.
        if (next) await writePrivateJson(path, next)
        else await removeStaleTemps(path)
        return result
      },
      fileLock,
    )
  const store: FileTokenStore = {
    kind: 'file',
    path,
    async get(key) {
      return usable(await read()).find((entry) => sameKey(entry, key))?.record
    },
    set(key, record) {
      return change((file) => {
        const existing = file.tokens.find((entry) => sameKey(entry, key))
        const entry: TokenEntry = { ...existing, ...keyOf(key), record }
        return {
          next: {
            ...file,
            tokens: existing ? file.tokens.map((e) => (e === existing ? entry : e)) : [...file.tokens, entry],
          },
          result: undefined,
        }
      })
    },
    delete(key) {
      return change((file) => {
        const tokens = file.tokens.filter((entry) => !sameKey(entry, key))
        return tokens.length === file.tokens.length
          ? { result: false }
          : { next: { ...file, tokens }, result: true }
      })
    },
    async list() {
      return usable(await read()).map((entry) => ({ key: keyOf(entry), record: entry.record }))
    },
    lock<T>(key: TokenKey, fn: () => Promise<T>, lockOptions: LockOptions = {}) {
      const hash = createHash('sha256').update(tokenKeyId(key)).digest('hex').slice(0, 32)
      return withFileLock(join(dir, 'locks', `${hash}.lock`), fn, {
        timeoutMs: lockOptions.timeoutMs ?? options.keyLockTimeoutMs ?? 60_000,
        ...(options.staleLockMs !== undefined ? { staleMs: options.staleLockMs } : {}),
        ...(lockOptions.signal ? { signal: lockOptions.signal } : {}),
      })
    },
    update(key, fn, lockOptions) {
      return updateUnderLock(store, key, fn, lockOptions)
    },
  }
  return store
}

/** Options of {@link fileConfigStore}. */
export interface FileConfigStoreOptions {
  /** The configuration directory; default {@link defaultPaths}'s. */
  readonly dir?: string
  /** How long an update waits for the file's lock; default 10 000 ms. */
  readonly lockTimeoutMs?: number
}

/** A {@link ConfigStore} on disk, with the path of its file. */
export interface FileConfigStore extends ConfigStore {
  /** The `config.json` path. */
  readonly path: string
}

/**
 * The configuration in `config.json` (mode 0600, directory 0700), validated field by field on
 * every read (`validateConfig` of `@keyfob/core`). A file with a mistake in it is an error, not a
 * skipped entry — you wrote it, and a command acting on part of it would surprise you more — so
 * it is reported (`ERR_INVALID_CONFIG` naming the file and the field) and left for you to fix; one
 * that is not JSON at all is moved aside (`ERR_CORRUPT_FILE`).
 *
 * @param options - Directory and lock timing.
 * @returns The store.
 * @throws StoreError / KeyfobError from its methods: `ERR_INSECURE_PERMISSIONS`, `ERR_CORRUPT_FILE`, `ERR_INVALID_CONFIG`, `ERR_LOCK_TIMEOUT`, `ERR_STORE`.
 * @example
 * ```ts
 * import { fileConfigStore } from '@keyfob/store'
 * const config = fileConfigStore()
 * await config.update((c) => ({ ...c, defaultAccount: 'work' }))
 * ```
 */
export function fileConfigStore(options: FileConfigStoreOptions = {}): FileConfigStore {
  const path = join(options.dir ?? defaultPaths().configDir, 'config.json')
  const read = async (): Promise<KeyfobConfig> => {
    try {
      return (await readPrivateJson(path, validateConfig, { keepWhenInvalid: true })) ?? emptyConfig()
    } catch (error) {
      // The user wrote the file: name it, so they know where to fix the field.
      if (error instanceof KeyfobError && error.code === 'ERR_INVALID_CONFIG')
        throw new KeyfobError(
          'ERR_INVALID_CONFIG',
          `${path}: ${error.message}; fix that field and run again`,
          {
            cause: { ...(error.cause as object), path },
          },
        )
      throw error
    }
  }
  return {
    kind: 'file',
    path,
    read,
    update(fn) {
      return withFileLock(
        `${path}.lock`,
        async () => {
          const next = validateConfig(fn(await read()))
          await writePrivateJson(path, next)
          return next
        },
        { timeoutMs: options.lockTimeoutMs ?? 10_000 },
      )
    },
  }
}
