/**
 * Private JSON files: created 0600 in 0700 directories, refused when others can read them,
 * written atomically (temp file in the same directory, fsync, rename, directory fsync), and moved
 * aside — never overwritten — when they do not parse.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { errnoOf, StoreError } from './errors.ts'

const isWindows = process.platform === 'win32'

/** Creates `dir` (and parents) with mode 0700 when missing. @internal */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (error) {
    throw ioError(error, `cannot create directory ${dir}`, dir)
  }
}

/** Turns a system error into `ERR_STORE` with its errno and the path. @internal */
export function ioError(error: unknown, what: string, path: string): StoreError {
  const errno = errnoOf(error)
  const advice =
    errno === 'EACCES' || errno === 'EPERM'
      ? '; check the owner and permissions of the directory'
      : errno === 'ENOSPC'
        ? '; the disk is full'
        : errno === 'EROFS'
          ? '; the file system is read-only'
          : ''
  return new StoreError('ERR_STORE', `${what}${errno ? ` (${errno})` : ''}${advice}`, {
    cause: { path, errno },
  })
}

/**
 * Refuses a file that group or others may read or write. Windows has no such mode bits (its ACLs
 * are not checked): the check is skipped there.
 *
 * @internal
 */
export function checkPermissions(path: string, mode: number): void {
  if (isWindows || (mode & 0o077) === 0) return
  const octal = (mode & 0o777).toString(8).padStart(3, '0')
  throw new StoreError(
    'ERR_INSECURE_PERMISSIONS',
    `${path} has mode ${octal}: others may read it, so keyfob will not use it; run: chmod 600 '${path}'`,
    { cause: { path, mode: octal, fix: `chmod 600 '${path}'` } },
  )
}

/**
 * Reads a private JSON file: `undefined` when it does not exist.
 *
 * @param path - The file.
 * @param validate - Checks the parsed value; throws (any error) when it is not in a known shape.
 * @throws StoreError `ERR_INSECURE_PERMISSIONS`, `ERR_CORRUPT_FILE` (the file was moved aside), `ERR_STORE`.
 * @internal
 */
export async function readPrivateJson<T>(
  path: string,
  validate: (value: unknown) => T,
  options: { readonly keepWhenInvalid?: boolean } = {},
): Promise<T | undefined> {
  let text: string
  try {
    // Synchronous on purpose: these files are small, and the first asynchronous file call starts
    // libuv's thread pool, which costs `keyfob token` more than the read itself.
    const info = statSync(path)
    checkPermissions(path, info.mode)
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if (error instanceof StoreError) throw error
    if (errnoOf(error) === 'ENOENT') return undefined
    throw ioError(error, `cannot read ${path}`, path)
  }
  let parsed: unknown
  let value: T
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return moveAside(path, error)
  }
  try {
    value = validate(parsed)
  } catch (error) {
    // A hand-edited file with a mistake is the user's to fix, not ours to move.
    if (options.keepWhenInvalid) throw error
    return moveAside(path, error)
  }
  return value
}

async function moveAside(path: string, error: unknown): Promise<never> {
  {
    const aside = `${path}.corrupt-${Date.now()}`
    let moved = true
    try {
      await rename(path, aside)
    } catch {
      moved = false
    }
    const reason =
      error instanceof SyntaxError
        ? 'is not valid JSON'
        : `is not in a known shape (${(error as Error).message})`
    throw new StoreError(
      'ERR_CORRUPT_FILE',
      moved
        ? `${path} ${reason}; it was moved to ${aside} and a new one will be started (look inside before deleting it)`
        : `${path} ${reason}; move it away to start a new one`,
      { cause: { path, ...(moved ? { movedTo: aside } : {}) } },
    )
  }
}

/** The tail of a temp file's name after `<file>.`: `<pid>.<12 hex digits>.tmp`. */
const TEMP = /^\d+\.[0-9a-f]{12}\.tmp$/

/**
 * Removes the temp files (`<file>.<pid>.<random>.tmp`) that writers killed mid-write left beside
 * `path`: each is a full copy of the file, secrets included. Call it holding the file's lock:
 * every writer holds it, so no temp file present then belongs to a live writer.
 *
 * @param path - The file whose temp files to remove.
 * @returns How many were removed.
 * @internal
 */
export async function removeStaleTemps(path: string): Promise<number> {
  const prefix = `${basename(path)}.`
  let names: string[]
  try {
    names = await readdir(dirname(path))
  } catch {
    return 0
  }
  let removed = 0
  for (const name of names) {
    if (!name.startsWith(prefix) || !TEMP.test(name.slice(prefix.length))) continue
    await unlink(join(dirname(path), name)).then(
      () => removed++,
      () => {},
    )
  }
  return removed
}

/**
 * Replaces a private JSON file atomically: a reader sees the old or the new content, never a
 * mixture, even if the writer dies half-way. Call it holding the file's lock; it first removes the
 * temp files writers killed earlier left ({@link removeStaleTemps}).
 *
 * @param path - The file.
 * @param value - What to write (as pretty-printed JSON).
 * @throws StoreError `ERR_STORE`.
 * @internal
 */
export async function writePrivateJson(path: string, value: unknown): Promise<void> {
  const dir = dirname(path)
  await ensurePrivateDir(dir)
  await removeStaleTemps(path)
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, path)
  } catch (error) {
    await unlink(temp).catch(() => {})
    throw ioError(error, `cannot write ${path}`, path)
  }
  await syncDir(dir)
}

/** Makes a rename durable: fsync the directory (not possible on Windows; skipped there). */
async function syncDir(dir: string): Promise<void> {
  if (isWindows) return
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Some file systems refuse to fsync a directory; the rename is still atomic.
  }
}
