/**
 * The OS keychain (macOS Keychain, Windows Credential Manager, the Secret Service on Linux) through
 * `@napi-rs/keyring`, an optional dependency loaded on first use. Every call has a time limit, so
 * a hung D-Bus cannot hang the program; every failure is `ERR_KEYCHAIN_UNAVAILABLE` with what to
 * install or unlock — never a silent "no entry". On Linux the Secret Service is required: the
 * kernel keyring (keyutils) does not survive a reboot, so it is not used as a silent fallback.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import {
  type LockOptions,
  type TokenKey,
  type TokenRecord,
  type TokenStore,
  tokenKeyId,
  updateUnderLock,
} from '@keyfob/core'
import { StoreError } from './errors.ts'
import { withFileLock } from './lock.ts'
import { defaultPaths } from './paths.ts'
import {
  describeKey,
  keyProblem,
  onceEach,
  recordProblem,
  type WarningHandler,
  warnOnConsole,
} from './records.ts'

/** The part of `@napi-rs/keyring` this adapter uses (injectable for tests of the error paths). */
export interface KeyringModule {
  readonly AsyncEntry: new (
    service: string,
    username: string,
    options?: { linux?: { store?: 'secret-service' | 'keyutils' } },
  ) => {
    setPassword(password: string, signal?: AbortSignal): Promise<void>
    getPassword(signal?: AbortSignal): Promise<string | null>
    deleteCredential(signal?: AbortSignal): Promise<boolean>
  }
}

/** Options of {@link keychainTokenStore}. */
export interface KeychainTokenStoreOptions {
  /** The service name entries are filed under; default `keyfob`. */
  readonly service?: string
  /** Time limit per keychain call; default 3 000 ms (a locked Secret Service can take 25 s to say so). */
  readonly timeoutMs?: number
  /** Where the cross-process lock files go; default the data directory of {@link defaultPaths}. */
  readonly lockDir?: string
  /**
   * How long a read or change waits for the index lock (reads take it too: one Secret Service
   * client at a time); default 10 000 ms, as the file store's `lockTimeoutMs`.
   */
  readonly lockTimeoutMs?: number
  /**
   * Characters of the (base64-encoded) value per keychain entry; longer values are split over
   * several entries. Default 1 000, under Windows' 2 560-byte (1 280 UTF-16 characters) limit.
   */
  readonly chunkSize?: number
  /** At most this many entries per value; a larger value is `ERR_VALUE_TOO_LARGE`. Default 16. */
  readonly maxChunks?: number
  /**
   * Told about each stored record skipped because it is not in the known shape (once per record
   * and problem); default a line on `console.warn`.
   */
  readonly onWarning?: WarningHandler
  /** The keyring module; default `import('@napi-rs/keyring')`. */
  readonly module?: KeyringModule | (() => Promise<KeyringModule>)
}

/** A {@link TokenStore} in the OS keychain. */
export interface KeychainTokenStore extends TokenStore {
  /**
   * Checks that the keychain works: writes, reads and deletes a canary entry.
   *
   * @throws StoreError `ERR_KEYCHAIN_UNAVAILABLE`.
   */
  probe(): Promise<void>
}

const INDEX = 'keyfob-index'

function advice(): string {
  switch (process.platform) {
    case 'darwin':
      return 'unlock the login keychain (Keychain Access), or use the file store (keyfob: --store file)'
    case 'win32':
      return 'check that Credential Manager is available to this user, or use the file store (keyfob: --store file)'
    default:
      return 'install and start a Secret Service (e.g. apt install gnome-keyring dbus-user-session, or KeePassXC with Secret Service on), unlock it, and make sure DBUS_SESSION_BUS_ADDRESS is set; or use the file store (keyfob: --store file)'
  }
}

function unavailable(detail: string, cause: Record<string, unknown> = {}): StoreError {
  return new StoreError('ERR_KEYCHAIN_UNAVAILABLE', `the OS keychain is not usable: ${detail}; ${advice()}`, {
    cause: { platform: process.platform, ...cause },
  })
}

/** What the native error said, reduced to a phrase without any value in it. */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  if (/DBUS_SESSION_BUS_ADDRESS|autolaunch/i.test(message))
    return 'there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is unset)'
  if (/org\.freedesktop\.secrets|not provided by any \.service/i.test(message))
    return 'no Secret Service is running'
  if (/Did not receive a reply|timed? ?out/i.test(message))
    return 'the Secret Service did not answer (is the keyring locked?)'
  if (/locked|AccessDenied|denied|prompt/i.test(message)) return 'the keyring is locked or access was denied'
  return 'the platform store failed'
}

type Op = 'get' | 'set' | 'delete'

/** Races `work` against the time limit; on expiry runs `onTimeout` and rejects clearly. */
function withTimeout<T>(work: Promise<T>, timeoutMs: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout()
      reject(
        unavailable(`no answer within ${timeoutMs} ms (a locked keyring or a hung D-Bus)`, { timeoutMs }),
      )
    }, timeoutMs)
  })
  return Promise.race([work, expiry]).finally(() => clearTimeout(timer))
}

/**
 * The keyring module runs in a helper process: its constructor blocks on D-Bus, and a thread stuck
 * in native code cannot be stopped (not even by `process.exit`), while a process can be killed.
 */
interface KeyringWorker {
  request(message: {
    op: Op
    service: string
    account: string
    value?: string
  }): Promise<string | null | boolean | undefined>
  terminate(): void
}

/**
 * `true` inside a standalone keyfob executable, where the build (`scripts/build-bin.mjs`) defines
 * it: there `@napi-rs/keyring` is compiled into the program and nothing can be resolved or run with
 * `-e`, so the program itself is the helper, started with `KEYFOB_INTERNAL_KEYRING_HELPER=1`
 * (`scripts/bin/keyring-helper.ts` speaks the same protocol as the source below). Elsewhere the
 * name is undeclared and `typeof` says so.
 */
declare const KEYFOB_STANDALONE: boolean
const standalone = typeof KEYFOB_STANDALONE === 'boolean' && KEYFOB_STANDALONE

/** The helper's code: CommonJS with a dynamic import, so `node -e` and `bun -e` both run it. */
const HELPER_SOURCE = `
const moduleUrl = process.argv.at(-1)
let keyring
let buffer = ''
process.stdin.setEncoding('utf8')
process.stdin.on('end', () => process.exit(0))
process.stdin.on('data', (chunk) => {
  buffer += chunk
  let newline
  while ((newline = buffer.indexOf('\\n')) >= 0) {
    const line = buffer.slice(0, newline)
    buffer = buffer.slice(newline + 1)
    handle(JSON.parse(line))
  }
})
async function handle({ id, op, service, account, value }) {
  try {
    keyring ??= await import(moduleUrl)
    const entry = new keyring.AsyncEntry(service, account, { linux: { store: 'secret-service' } })
    const result = op === 'get' ? await entry.getPassword() : op === 'set' ? await entry.setPassword(value) : await entry.deleteCredential()
    process.stdout.write(JSON.stringify({ id, ok: true, result: result ?? null }) + '\\n')
  } catch (error) {
    process.stdout.write(JSON.stringify({ id, ok: false, message: String((error && error.message) || error) }) + '\\n')
  }
}
`

function startWorker(): KeyringWorker {
  let moduleUrl = ''
  try {
    if (!standalone) moduleUrl = import.meta.resolve('@napi-rs/keyring')
  } catch {
    const error = unavailable(
      'the optional dependency @napi-rs/keyring is not installed (npm install @napi-rs/keyring)',
    )
    return { request: () => Promise.reject(error), terminate: () => {} }
  }
  type Waiter = {
    resolve: (value: string | null | boolean | undefined) => void
    reject: (error: unknown) => void
  }
  const pending = new Map<number, Waiter>()
  let next = 0
  const failAll = (detail: string) => {
    for (const waiter of pending.values()) waiter.reject(unavailable(detail, {}))
    pending.clear()
  }
  const helper = import('node:child_process').then(({ spawn }) => {
    const child = standalone
      ? spawn(process.execPath, [], {
          stdio: ['pipe', 'pipe', 'ignore'],
          env: { ...process.env, KEYFOB_INTERNAL_KEYRING_HELPER: '1' },
        })
      : spawn(process.execPath, ['-e', HELPER_SOURCE, moduleUrl], {
          stdio: ['pipe', 'pipe', 'ignore'],
        })
    let buffer = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      buffer += chunk
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const message = JSON.parse(buffer.slice(0, newline)) as {
          id: number
          ok: boolean
          result?: string | null | boolean
          message?: string
        }
        buffer = buffer.slice(newline + 1)
        const waiter = pending.get(message.id)
        pending.delete(message.id)
        if (message.ok) waiter?.resolve(message.result)
        else waiter?.reject(unavailable(describe(message.message), {}))
      }
    })
    child.once('error', () => failAll('the keychain helper process could not start'))
    child.once('exit', () => failAll('the keychain helper process ended'))
    // An idle helper never keeps this process alive; it exits when our end of its stdin closes.
    child.unref()
    ;(child.stdin as unknown as { unref?: () => void }).unref?.()
    ;(child.stdout as unknown as { unref?: () => void }).unref?.()
    return child
  })
  return {
    async request(message) {
      const child = await helper
      const id = next++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.stdin.write(`${JSON.stringify({ id, ...message })}\n`)
      })
    },
    terminate() {
      void helper.then((child) => child.kill('SIGKILL'))
    },
  }
}

/**
 * The head entry of a value: its first chunk, how many parts it has, and (format 2) the
 * generation whose parts it points to and a checksum of the whole value.
 */
interface Head {
  /** 1: parts at `<account>/part<i>`, overwritten in place (read, never written). 2: generations. */
  readonly v: 1 | 2
  /** The generation (format 2): parts at `<account>/g<g>/part<i>`. */
  readonly g?: number
  readonly parts: number
  /** The first 16 hex digits of the SHA-256 of the whole base64 value (format 2). */
  readonly sum?: string
  readonly data: string
}

function parseHead(text: string): Head | undefined {
  let head: unknown
  try {
    head = JSON.parse(text)
  } catch {
    return undefined
  }
  const h = head as Partial<Head> | null
  if (typeof h !== 'object' || h === null || typeof h.data !== 'string') return undefined
  if (!Number.isInteger(h.parts) || (h.parts as number) < 1) return undefined
  if (h.v === 1) return h as Head
  if (h.v === 2 && Number.isInteger(h.g) && typeof h.sum === 'string') return h as Head
  return undefined
}

function partName(account: string, head: Pick<Head, 'v' | 'g'>, i: number): string {
  return head.v === 1 ? `${account}/part${i}` : `${account}/g${head.g}/part${i}`
}

function checksum(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16)
}

const isBase64 = (value: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(value)

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

function accountOf(key: TokenKey): string {
  const hash = createHash('sha256').update(tokenKeyId(key)).digest('hex').slice(0, 16)
  return `${hash}:${key.clientId}@${key.issuer}${key.account ? `#${key.account}` : ''}`
}

/**
 * Tokens in the OS keychain, one entry per token key (split over several entries when long),
 * plus an index entry so `list` works everywhere. Changes to the index and `lock(key)` use file
 * locks in the data directory, so several processes agree.
 *
 * @param options - Service name, per-call time limit, lock directory, chunking.
 * @returns The store (`kind: 'keychain'`).
 * @throws StoreError from its methods: `ERR_KEYCHAIN_UNAVAILABLE` (with what to install or unlock), `ERR_VALUE_TOO_LARGE`, `ERR_LOCK_TIMEOUT`.
 * @example
 * ```ts
 * import { keychainTokenStore } from '@keyfob/store'
 * const store = keychainTokenStore()
 * await store.probe() // fails fast and clearly when there is no usable keychain
 * ```
 */
export function keychainTokenStore(options: KeychainTokenStoreOptions = {}): KeychainTokenStore {
  const service = options.service ?? 'keyfob'
  const timeoutMs = options.timeoutMs ?? 3_000
  const chunkSize = options.chunkSize ?? 1_000
  const maxChunks = options.maxChunks ?? 16
  const lockDir = options.lockDir ?? defaultPaths().dataDir
  const warn = onceEach(options.onWarning ?? warnOnConsole)
  let injected: Promise<KeyringModule> | undefined
  let worker: KeyringWorker | undefined
  let gaveUp: StoreError | undefined

  /** One keychain call, bounded in time; any failure is ERR_KEYCHAIN_UNAVAILABLE. */
  const call = async (
    account: string,
    op: Op,
    value?: string,
  ): Promise<string | null | boolean | undefined> => {
    if (options.module !== undefined) {
      // An injected module runs on this thread (tests of the error paths).
      injected ??= Promise.resolve(typeof options.module === 'function' ? options.module() : options.module)
      const keyring = await injected
      return withTimeout(
        (async (): Promise<string | null | boolean | undefined> => {
          try {
            const entry = new keyring.AsyncEntry(service, account, { linux: { store: 'secret-service' } })
            if (op === 'get') return await entry.getPassword()
            if (op === 'delete') return await entry.deleteCredential()
            await entry.setPassword(value ?? '')
            return undefined
          } catch (error) {
            throw unavailable(describe(error), { service })
          }
        })(),
        timeoutMs,
        () => {},
      )
    }
    // After one call went unanswered, the keychain is not asked again in this process: a command
    // should not wait the time limit once per call.
    if (gaveUp) throw gaveUp
    worker ??= startWorker()
    const current = worker
    return withTimeout(
      current.request({ op, service, account, ...(value !== undefined ? { value } : {}) }),
      timeoutMs,
      () => {
        // A call stuck in native code (a hung D-Bus) cannot be interrupted: kill the helper.
        current.terminate()
        if (worker === current) worker = undefined
      },
    ).catch((error: unknown) => {
      if (
        (error as StoreError).cause &&
        (error as { cause: { timeoutMs?: number } }).cause.timeoutMs !== undefined
      )
        gaveUp = error as StoreError
      throw error
    })
  }

  const corrupt = (account: string, why: string): StoreError =>
    new StoreError(
      'ERR_CORRUPT_ENTRY',
      `keychain entry ${account} of service ${service} ${why}; delete it (keyfob token-clear) and log in again`,
      { cause: { service, account } },
    )

  /** Reads and checks the head entry; `undefined` when there is none. */
  const readHead = async (account: string): Promise<Head | undefined> => {
    const text = (await call(account, 'get')) as string | null
    if (text === null) return undefined
    const head = parseHead(text)
    if (!head) throw corrupt(account, 'is not in a known shape')
    return head
  }

  /**
   * One attempt at a consistent read: the head, then its generation's parts. `'retry'` when a
   * part is missing or the parts do not match the head's checksum (a writer moved on meanwhile).
   */
  const readOnce = async (account: string): Promise<string | undefined | 'retry'> => {
    const head = await readHead(account)
    if (head === undefined) return undefined
    let encoded = head.data
    for (let i = 1; i < head.parts; i++) {
      const part = (await call(partName(account, head, i), 'get')) as string | null
      if (part === null) return 'retry'
      encoded += part
    }
    if (head.sum !== undefined ? checksum(encoded) !== head.sum : !isBase64(encoded)) return 'retry'
    const text = Buffer.from(encoded, 'base64').toString('utf8')
    if (head.sum === undefined && !parsesAsJson(text)) return 'retry'
    return text
  }

  /**
   * Reads a value. Call under `indexLock`: no writer runs meanwhile, so parts that do not match
   * their head were left by a writer that died (`ERR_CORRUPT_ENTRY`). A call the busy Secret
   * Service refused for a moment is tried again, twice; one that got no answer is not.
   */
  const readValue = async (account: string): Promise<string | undefined> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const text = await readOnce(account)
        if (text === 'retry')
          throw corrupt(account, 'has parts that do not match its head (written by a process that died?)')
        return text
      } catch (error) {
        const timedOut = (error as { cause?: { timeoutMs?: number } }).cause?.timeoutMs !== undefined
        if (attempt >= 2 || (error as StoreError).code !== 'ERR_KEYCHAIN_UNAVAILABLE' || timedOut) throw error
        await new Promise((resolve) => setTimeout(resolve, 10 * 4 ** attempt))
      }
    }
  }

  /**
   * A write (`set` or `delete`) that a busy Secret Service refused for a moment is tried again,
   * twice: a generic failure under contention (a reader's search racing the removal of an old
   * part) is transient, and a write is safe to repeat. A call that got no answer is not retried.
   */
  const write = async (account: string, op: 'set' | 'delete', value?: string) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call(account, op, value)
      } catch (error) {
        const timedOut = (error as { cause?: { timeoutMs?: number } }).cause?.timeoutMs !== undefined
        if (attempt >= 2 || (error as StoreError).code !== 'ERR_KEYCHAIN_UNAVAILABLE' || timedOut) throw error
        await new Promise((resolve) => setTimeout(resolve, 10 * 4 ** attempt))
      }
    }
  }

  /** Writes a value as a new generation, then removes the one it replaces. Call under `indexLock`. */
  const writeValue = async (account: string, text: string): Promise<void> => {
    // Base64 of the UTF-8 bytes: every chunk is plain ASCII, so its size on every platform is known
    // (no JSON escaping, no surrogate pair split between chunks).
    const value = Buffer.from(text, 'utf8').toString('base64')
    const parts = Math.max(1, Math.ceil(value.length / chunkSize))
    if (parts > maxChunks)
      throw new StoreError(
        'ERR_VALUE_TOO_LARGE',
        `a value of ${text.length} characters needs ${parts} keychain entries, more than the limit of ${maxChunks}; use the file store`,
        { cause: { length: text.length, maxChunks } },
      )
    const previous = await readHead(account).catch((error: unknown) => {
      // A broken head is replaced; its parts cannot be found, so they stay.
      if ((error as StoreError).code === 'ERR_CORRUPT_ENTRY') return undefined
      throw error
    })
    const head: Head = {
      v: 2,
      g: (previous?.g ?? 0) + 1,
      parts,
      sum: checksum(value),
      data: value.slice(0, chunkSize),
    }
    // The new generation's parts first (fresh names no head points to yet), the head last: a reader
    // sees the old generation or the new one. A writer that died here left parts under the same
    // names, which this write overwrites.
    for (let i = 1; i < parts; i++)
      await write(partName(account, head, i), 'set', value.slice(i * chunkSize, (i + 1) * chunkSize))
    await write(account, 'set', JSON.stringify(head))
    // The value is written. Then what it replaces: the old generation; parts a writer that died
    // before moving the head left beyond this generation's length; and the generation before the
    // old one, which a writer that died after moving the head (or a cleanup that failed) left. A
    // cleanup that still fails does not fail the write: the next write removes what it left.
    try {
      if (previous)
        for (let i = 1; i < previous.parts; i++) await write(partName(account, previous, i), 'delete')
      await removeParts(account, head, parts)
      if (previous?.v === 2 && (previous.g ?? 0) > 1)
        await removeParts(account, { v: 2, g: (previous.g ?? 0) - 1 }, 1)
    } catch (error) {
      if ((error as { cause?: { timeoutMs?: number } }).cause?.timeoutMs !== undefined) throw error
    }
  }

  /** Deletes a generation's parts from `from` on, up to the first that is not there. */
  const removeParts = async (account: string, generation: Pick<Head, 'v' | 'g'>, from: number) => {
    for (let i = from; i < maxChunks; i++)
      if (!(await write(partName(account, generation, i), 'delete'))) break
  }

  /** Removes a value, head first. Call under `indexLock`. */
  const removeValue = async (account: string): Promise<boolean> => {
    const head = await readHead(account).catch((error: unknown) => {
      if ((error as StoreError).code === 'ERR_CORRUPT_ENTRY') return undefined
      throw error
    })
    const removed = (await write(account, 'delete')) === true
    if (head) for (let i = 1; i < head.parts; i++) await write(partName(account, head, i), 'delete')
    return removed || head !== undefined
  }

  /**
   * The stored keys. A broken index is reported and read as empty: the logins themselves still
   * work by key, and the next change writes a new index (a broken one must not block every write).
   */
  const readIndex = async (): Promise<TokenKey[]> => {
    let keys: unknown
    try {
      const text = await readValue(INDEX)
      if (text === undefined) return []
      keys = JSON.parse(text)
    } catch (error) {
      if (!(error instanceof SyntaxError) && (error as StoreError).code !== 'ERR_CORRUPT_ENTRY') throw error
    }
    if (!Array.isArray(keys)) {
      warn({
        code: 'WARN_INVALID_RECORD',
        message: `keychain entry ${INDEX} of service ${service} is broken: the logins stored so far are not listed (each still works by its key), and the next change starts a new index`,
        source: `keychain:${service}`,
        field: 'index',
      })
      return []
    }
    return keys.filter((key): key is TokenKey => {
      const problem =
        typeof key === 'object' && key !== null ? keyProblem(key) : { field: 'key', why: 'must be an object' }
      if (problem)
        warn({
          code: 'WARN_INVALID_RECORD',
          message: `a key in keychain entry ${INDEX} of service ${service} was skipped: its ${problem.field} ${problem.why}`,
          source: `keychain:${service}`,
          field: problem.field,
        })
      return problem === undefined
    })
  }

  /** The record of a stored value, or `undefined` (with a warning) when it is not in the known shape. */
  const recordOf = (key: TokenKey, account: string, text: string): TokenRecord | undefined => {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      throw corrupt(account, 'is not valid JSON')
    }
    const problem = recordProblem((value as { record?: unknown } | null)?.record)
    if (problem === undefined) return (value as { record: TokenRecord }).record
    warn({
      code: 'WARN_INVALID_RECORD',
      message: `the stored token of ${describeKey(key)} in keychain service ${service} was skipped: its ${problem.field} ${problem.why}; log in again to replace it`,
      source: `keychain:${service}`,
      key,
      field: problem.field,
    })
    return undefined
  }

  const indexLock = <T>(fn: () => Promise<T>) =>
    withFileLock(
      join(
        lockDir,
        'locks',
        `keychain-${createHash('sha256').update(service).digest('hex').slice(0, 16)}.lock`,
      ),
      fn,
      { timeoutMs: options.lockTimeoutMs ?? 10_000 },
    )

  const same = (a: TokenKey, b: TokenKey) => tokenKeyId(a) === tokenKeyId(b)

  const store: KeychainTokenStore = {
    kind: 'keychain',
    async probe() {
      const canary = `probe-${process.pid}-${Date.now()}`
      await call(canary, 'set', 'probe')
      const back = (await call(canary, 'get')) as string | null
      await call(canary, 'delete')
      if (back !== 'probe') throw unavailable('a value written could not be read back', { service })
    },
    // Reads take the writers' lock too: the parts make a read consistent on their own, but
    // gnome-keyring-daemon was seen to hang or crash when one process removed entries while others
    // searched and read (a loaded CI machine, and the CLI in the field). One keychain client at a
    // time costs a file lock per read; a hung Secret Service costs every command its time limit.
    async get(key) {
      const account = accountOf(key)
      const text = await indexLock(() => readValue(account))
      return text === undefined ? undefined : recordOf(key, account, text)
    },
    set(key, record) {
      return indexLock(async () => {
        await writeValue(accountOf(key), JSON.stringify({ key, record }))
        const index = await readIndex()
        if (!index.some((k) => same(k, key))) await writeValue(INDEX, JSON.stringify([...index, key]))
      })
    },
    delete(key) {
      return indexLock(async () => {
        const removed = await removeValue(accountOf(key))
        const index = await readIndex()
        if (index.some((k) => same(k, key)))
          await writeValue(INDEX, JSON.stringify(index.filter((k) => !same(k, key))))
        return removed
      })
    },
    list() {
      return indexLock(async () => {
        const out: Array<{ key: TokenKey; record: TokenRecord }> = []
        for (const key of await readIndex()) {
          const account = accountOf(key)
          const text = await readValue(account)
          const record = text === undefined ? undefined : recordOf(key, account, text)
          if (record !== undefined) out.push({ key, record })
        }
        return out
      })
    },
    lock<T>(key: TokenKey, fn: () => Promise<T>, lockOptions: LockOptions = {}) {
      const hash = createHash('sha256').update(tokenKeyId(key)).digest('hex').slice(0, 32)
      return withFileLock(join(lockDir, 'locks', `${hash}.lock`), fn, {
        timeoutMs: lockOptions.timeoutMs ?? 60_000,
        ...(lockOptions.signal ? { signal: lockOptions.signal } : {}),
      })
    },
    update(key, fn, lockOptions) {
      return updateUnderLock(store, key, fn, lockOptions)
    },
  }
  return store
}
