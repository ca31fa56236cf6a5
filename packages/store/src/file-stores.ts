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
import { readPrivateJson, writePrivateJson } from './private-json.ts'

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

/** Checks the shape of `tokens.json`, naming the first problem (never a value). */
function validateTokenFile(value: unknown): TokenFile {
  if (!isObject(value)) throw new Error('the root must be an object')
  if (typeof value.version !== 'number' || value.version < 1)
    throw new Error('"version" must be a number ≥ 1')
  if (!Array.isArray(value.tokens)) throw new Error('"tokens" must be an array')
  value.tokens.forEach((entry, i) => {
    if (!isObject(entry) || typeof entry.issuer !== 'string' || typeof entry.clientId !== 'string')
      throw new Error(`tokens[${i}] needs string "issuer" and "clientId"`)
    if (entry.account !== undefined && typeof entry.account !== 'string')
      throw new Error(`tokens[${i}].account must be a string`)
    if (!isObject(entry.record) || typeof entry.record.updatedAt !== 'number')
      throw new Error(`tokens[${i}].record needs a numeric "updatedAt"`)
  })
  return value as unknown as TokenFile
}

const sameKey = (entry: TokenEntry, key: TokenKey) =>
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
  const read = async (): Promise<TokenFile> =>
    (await readPrivateJson(path, validateTokenFile)) ?? { version: 1, tokens: [] }
  const change = <T>(fn: (file: TokenFile) => { next?: TokenFile; result: T }): Promise<T> =>
    withFileLock(
      `${path}.lock`,
      async () => {
        const { next, result } = fn(await read())
        if (next) await writePrivateJson(path, next)
        return result
      },
      fileLock,
    )
  const store: FileTokenStore = {
    kind: 'file',
    path,
    async get(key) {
      return (await read()).tokens.find((entry) => sameKey(entry, key))?.record
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
      return (await read()).tokens.map((entry) => ({ key: keyOf(entry), record: entry.record }))
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
 * The configuration in `config.json` (mode 0600, directory 0700), validated on every read. A file
 * with a mistake in it is reported (`ERR_INVALID_CONFIG` naming the field) and left for you to
 * fix; one that is not JSON at all is moved aside (`ERR_CORRUPT_FILE`).
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
  const read = async (): Promise<KeyfobConfig> =>
    (await readPrivateJson(path, validateConfig, { keepWhenInvalid: true })) ?? emptyConfig()
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
