/**
 * An advisory lock between processes: a lock file created with `O_EXCL` that names its owner (pid,
 * host, time, nonce). A lock whose owner died on this host, or that is older than `staleMs`, is
 * taken over; waiting is bounded and ends in `ERR_LOCK_TIMEOUT`. Inside one process, holders of
 * the same path queue in memory first, so they never poll each other.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { link, open, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { errnoOf, StoreError } from './errors.ts'
import { ensurePrivateDir, ioError } from './private-json.ts'
import { keyedQueue } from './queue.ts'

/** Options of a file lock. */
export interface FileLockOptions {
  /** Give up waiting after this long; default 10 000 ms. */
  readonly timeoutMs?: number
  /** Take over a lock older than this, whoever holds it; default 60 000 ms. */
  readonly staleMs?: number
  /** Give up waiting when this aborts (`ERR_ABORTED`). */
  readonly signal?: AbortSignal
}

interface Owner {
  readonly pid: number
  readonly host: string
  readonly createdAt: number
  readonly nonce: string
}

const HOST = hostname()

/** In-process queues, one per lock path. */
const queue = keyedQueue((lockPath, how, timeoutMs) =>
  how === 'abort' ? aborted(lockPath) : timedOut(lockPath, timeoutMs, 'another holder in this process'),
)

/**
 * Runs `fn` while holding the lock at `lockPath`, and releases it however `fn` ends.
 *
 * @param lockPath - The lock file (its directory is created 0700 when missing).
 * @param fn - The critical section.
 * @param options - Timeout, staleness, signal.
 * @returns What `fn` returns.
 * @throws StoreError `ERR_LOCK_TIMEOUT` (the owner is named), `ERR_ABORTED`, `ERR_STORE`.
 * @example
 * ```ts
 * await withFileLock('/tmp/x.lock', async () => { ... }, { timeoutMs: 5_000 })
 * ```
 */
export function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const started = Date.now()
  // The wait for holders in this process counts against the same timeout as the file lock.
  return queue(
    lockPath,
    async () => {
      const release = await acquire(lockPath, options, started + timeoutMs, timeoutMs)
      try {
        return await fn()
      } finally {
        await release()
      }
    },
    { timeoutMs, ...(options.signal ? { signal: options.signal } : {}) },
  )
}

function timedOut(lockPath: string, timeoutMs: number, who: string): StoreError {
  return new StoreError(
    'ERR_LOCK_TIMEOUT',
    `gave up after ${timeoutMs} ms waiting for lock ${lockPath}, held by ${who}; try again, or delete the file if no keyfob process is running`,
    { cause: { path: lockPath } },
  )
}

async function acquire(
  lockPath: string,
  options: FileLockOptions,
  deadline: number,
  timeoutMs: number,
): Promise<() => Promise<void>> {
  const staleMs = options.staleMs ?? 60_000
  const owner: Owner = {
    pid: process.pid,
    host: HOST,
    createdAt: Date.now(),
    nonce: randomBytes(8).toString('hex'),
  }
  let delay = 2
  for (;;) {
    if (options.signal?.aborted) throw aborted(lockPath)
    // The owner is written to a private file first, then linked into place: link(2) creates the
    // lock atomically with its content, so no holder is ever seen half-written.
    const draft = `${lockPath}.${owner.nonce}.owner`
    try {
      const handle = await open(draft, 'w', 0o600)
      try {
        await handle.writeFile(JSON.stringify({ ...owner, createdAt: Date.now() }))
      } finally {
        await handle.close()
      }
      try {
        await link(draft, lockPath)
      } finally {
        await unlink(draft).catch(() => {})
      }
      await sweepDrafts(lockPath)
      return () => release(lockPath, owner.nonce)
    } catch (error) {
      const errno = errnoOf(error)
      if (errno === 'ENOENT') {
        await ensurePrivateDir(dirname(lockPath))
        continue
      }
      if (errno !== 'EEXIST') throw ioError(error, `cannot create lock ${lockPath}`, lockPath)
    }
    const holder = await readOwner(lockPath)
    if (holder !== 'gone' && (await isStale(lockPath, holder, staleMs)) && (await takeOver(lockPath, holder)))
      continue
    if (holder === 'gone') continue
    const now = Date.now()
    if (now >= deadline) {
      const who =
        holder === 'unreadable'
          ? 'an unknown holder'
          : `pid ${holder.pid} on ${holder.host} since ${new Date(holder.createdAt).toISOString()}`
      const error = timedOut(lockPath, timeoutMs, who)
      if (holder !== 'unreadable')
        Object.assign(error.cause as object, { pid: holder.pid, host: holder.host })
      throw error
    }
    await sleep(Math.min(delay + Math.random() * delay, deadline - now), options.signal, lockPath)
    delay = Math.min(delay * 2, 50)
  }
}

function aborted(lockPath: string): StoreError {
  return new StoreError('ERR_ABORTED', `waiting for lock ${lockPath} was cancelled`, {
    cause: { path: lockPath },
  })
}

function sleep(ms: number, signal: AbortSignal | undefined, lockPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms)
    function onAbort() {
      clearTimeout(timer)
      reject(aborted(lockPath))
    }
    function done() {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

async function readOwner(lockPath: string): Promise<Owner | 'gone' | 'unreadable'> {
  try {
    const value = JSON.parse(await readFile(lockPath, 'utf8')) as Partial<Owner>
    if (
      typeof value.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.createdAt === 'number'
    )
      return value as Owner
    return 'unreadable'
  } catch (error) {
    return errnoOf(error) === 'ENOENT' ? 'gone' : 'unreadable'
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoOf(error) !== 'ESRCH'
  }
}

async function isStale(lockPath: string, holder: Owner | 'unreadable', staleMs: number): Promise<boolean> {
  if (holder === 'unreadable') {
    // A holder that died between creating and writing the file: judge by the file's age.
    try {
      return Date.now() - (await stat(lockPath)).mtimeMs > Math.min(staleMs, 2_000)
    } catch {
      return false
    }
  }
  if (holder.host === HOST && holder.pid !== process.pid && !alive(holder.pid)) return true
  const now = Date.now()
  if (holder.createdAt <= now + FUTURE_SLACK_MS) return now - holder.createdAt > staleMs
  // A time in the future: the holder's clock is ahead of ours (hosts sharing a home directory).
  // Judge by the lock file's modification time instead, which the file system stamps; if that is
  // in the future too, nothing about the lock can be trusted, and it is taken as stale.
  try {
    const { mtimeMs } = await stat(lockPath)
    return mtimeMs > now + FUTURE_SLACK_MS || now - mtimeMs > staleMs
  } catch {
    return false
  }
}

/** How far in the future a lock's time may lie before it is not believed: small clock differences are normal. */
const FUTURE_SLACK_MS = 2_000

/** The tail of a draft's name after `<lock>.`. */
const DRAFT = /^(?:[0-9a-f]{16}\.owner|takeover\.[0-9a-f]{12})$/

/** A draft older than this belongs to a process that died while taking a lock (a live one keeps it for microseconds). */
const DRAFT_STALE_MS = 5_000

/**
 * Removes the drafts (`<lock>.<nonce>.owner`, `<lock>.takeover.<nonce>`) that processes killed
 * while taking this lock left behind. Called by each new holder. Every owner draft goes: the
 * holder needs none of them, and a live process whose draft disappears before it is linked just
 * writes it again (its `link` fails with ENOENT, which `acquire` retries) — so a draft left empty
 * by a process killed between `open` and `write` is not kept for seconds. Takeover drafts go when
 * they are older than a few seconds (their taker, if alive, has long finished with them).
 */
async function sweepDrafts(lockPath: string): Promise<void> {
  const dir = dirname(lockPath)
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return
  }
  const prefix = `${basename(lockPath)}.`
  const now = Date.now()
  for (const name of names) {
    if (!name.startsWith(prefix) || !DRAFT.test(name.slice(prefix.length))) continue
    const path = join(dir, name)
    const stale =
      name.endsWith('.owner') ||
      (await stat(path).then(
        (info) => now - info.mtimeMs > DRAFT_STALE_MS,
        () => false,
      ))
    if (stale) await unlink(path).catch(() => {})
  }
}

/**
 * Removes a stale lock. Takers serialize on a second, short-lived lock (`<lock>.takeover`, itself
 * taken over after 5 s), and remove the stale lock only if it is still the one they judged stale:
 * so two takers never remove a lock that a third process has just created.
 */
async function takeOver(lockPath: string, seen: Owner | 'unreadable'): Promise<boolean> {
  const guard = `${lockPath}.takeover`
  const draft = `${guard}.${randomBytes(6).toString('hex')}`
  try {
    await writeFile(draft, String(Date.now()), { mode: 0o600 })
    try {
      await link(draft, guard)
    } finally {
      await unlink(draft).catch(() => {})
    }
  } catch {
    // Another taker is at work; unless it died long ago, let it finish.
    const age = await stat(guard).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    )
    if (age > 5_000) await unlink(guard).catch(() => {})
    return false
  }
  try {
    const now = await readOwner(lockPath)
    const same =
      seen === 'unreadable'
        ? now === 'unreadable'
        : now !== 'gone' && now !== 'unreadable' && now.nonce === seen.nonce
    if (same) await unlink(lockPath).catch(() => {})
    return same
  } finally {
    await unlink(guard).catch(() => {})
  }
}

async function release(lockPath: string, nonce: string): Promise<void> {
  const holder = await readOwner(lockPath)
  // Only remove our own lock: after a takeover it may be someone else's.
  if (holder !== 'gone' && holder !== 'unreadable' && holder.nonce === nonce)
    await unlink(lockPath).catch(() => {})
}
