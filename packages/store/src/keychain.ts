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
   * Characters of the (base64-encoded) value per keychain entry; longer values are split over
   * several entries. Default 1 000, under Windows' 2 560-byte (1 280 UTF-16 characters) limit.
   */
  readonly chunkSize?: number
  /** At most this many entries per value; a larger value is `ERR_VALUE_TOO_LARGE`. Default 16. */
  readonly maxChunks?: number
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
  let moduleUrl: string
  try {
    moduleUrl = import.meta.resolve('@napi-rs/keyring')
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
    const child = spawn(process.execPath, ['-e', HELPER_SOURCE, moduleUrl], {
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

  const readValue = async (account: string): Promise<string | undefined> => {
    const head = (await call(account, 'get')) as string | null
    if (head === null) return undefined
    const parsed = JSON.parse(head) as { v: number; parts: number; data: string }
    let encoded = parsed.data
    for (let i = 1; i < parsed.parts; i++) {
      const part = (await call(`${account}/part${i}`, 'get')) as string | null
      if (part === null)
        throw unavailable(`entry ${account} is missing part ${i} (written by a process that died?)`, {
          service,
        })
      encoded += part
    }
    return Buffer.from(encoded, 'base64').toString('utf8')
  }

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
    const previous = (await call(account, 'get')) as string | null
    const previousParts = previous === null ? 1 : (JSON.parse(previous) as { parts: number }).parts
    // Parts first, the head last: a reader never sees a head that points at missing parts.
    for (let i = 1; i < parts; i++) {
      const part = value.slice(i * chunkSize, (i + 1) * chunkSize)
      await call(`${account}/part${i}`, 'set', part)
    }
    await call(account, 'set', JSON.stringify({ v: 1, parts, data: value.slice(0, chunkSize) }))
    for (let i = parts; i < previousParts; i++) await call(`${account}/part${i}`, 'delete')
  }

  const removeValue = async (account: string): Promise<boolean> => {
    const head = (await call(account, 'get')) as string | null
    if (head === null) return false
    const { parts } = JSON.parse(head) as { parts: number }
    await call(account, 'delete')
    for (let i = 1; i < parts; i++) await call(`${account}/part${i}`, 'delete')
    return true
  }

  const readIndex = async (): Promise<TokenKey[]> => {
    const text = await readValue(INDEX)
    return text === undefined ? [] : (JSON.parse(text) as TokenKey[])
  }

  const indexLock = <T>(fn: () => Promise<T>) =>
    withFileLock(
      join(
        lockDir,
        'locks',
        `keychain-${createHash('sha256').update(service).digest('hex').slice(0, 16)}.lock`,
      ),
      fn,
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
    async get(key) {
      const text = await readValue(accountOf(key))
      return text === undefined ? undefined : (JSON.parse(text) as { record: TokenRecord }).record
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
    async list() {
      const out: Array<{ key: TokenKey; record: TokenRecord }> = []
      for (const key of await readIndex()) {
        const text = await readValue(accountOf(key))
        if (text !== undefined)
          out.push({ key, record: (JSON.parse(text) as { record: TokenRecord }).record })
      }
      return out
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
