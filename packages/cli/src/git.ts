/**
 * What `keyfob git-credential` and `keyfob setup-git` share: git's credential helper protocol
 * (`key=value` lines, see gitcredentials(7) and git-credential(1)), the host a helper entry is
 * for, and the shell quoting of the entry git runs.
 *
 * @module
 */
import { UsageError } from './context.ts'

/** git itself failed or is missing: exit code 1, and the message says which git command and why. */
export class GitError extends Error {
  override readonly name = 'GitError'
  /** Always `ERR_GIT`. */
  readonly code = 'ERR_GIT'
}

/** Hosts git may talk to over plain `http://` with a token: this machine only. */
const LOOPBACK = /^(?:127(?:\.\d{1,3}){3}|\[::1\]|localhost)(?::\d+)?$/i

/** The origin a helper entry is for: `https://git.example.org` or `http://127.0.0.1:8080`. */
export interface GitOrigin {
  /** `https`, or `http` for a loopback host. */
  readonly protocol: 'https' | 'http'
  /** `host[:port]`, lower case, as git sends it in `host=`. */
  readonly host: string
}

/**
 * Reads `--host`: a bare `host[:port]` (HTTPS) or an `https://` URL; `http://` only for this
 * machine, because git would send the token in the clear anywhere else.
 *
 * @param text - The flag's value.
 * @returns The origin.
 * @throws UsageError for anything else.
 */
export function parseOrigin(text: string): GitOrigin {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new UsageError(`--host ${JSON.stringify(text)} is not a host name or URL; use e.g. git.example.org`)
  }
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== ''))
    throw new UsageError(
      `--host ${JSON.stringify(text)} must be a host (and port), without a path or user; use e.g. ${url.host}`,
    )
  const host = url.host.toLowerCase()
  if (url.protocol === 'https:') return { protocol: 'https', host }
  if (url.protocol === 'http:' && LOOPBACK.test(host)) return { protocol: 'http', host }
  throw new UsageError(
    url.protocol === 'http:'
      ? `--host ${text}: git would send the token unencrypted; use https:// (http:// is allowed for 127.0.0.1, [::1] and localhost only)`
      : `--host ${text}: git credential helpers serve http(s) remotes; use https://${host}`,
  )
}

/** The `credential.<url>.helper` key of an origin. */
export function helperKey(origin: GitOrigin): string {
  return `credential.${origin.protocol}://${origin.host}.helper`
}

/**
 * Parses what git writes to a helper: `key=value` lines up to a blank line or the end. A `url=`
 * line is split into `protocol`, `host`, `path` and `username` as git itself would.
 *
 * @param text - The helper's standard input.
 * @returns The attributes (the last value of a repeated key).
 */
export function parseCredential(text: string): Record<string, string> {
  const attributes: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const trimmed = line.replace(/\r$/, '')
    if (trimmed === '') break
    const eq = trimmed.indexOf('=')
    if (eq <= 0) continue
    const key = trimmed.slice(0, eq)
    const value = trimmed.slice(eq + 1)
    if (key !== 'url') {
      attributes[key] = value
      continue
    }
    try {
      const url = new URL(value)
      attributes.protocol = url.protocol.replace(/:$/, '')
      attributes.host = url.host
      if (url.pathname.length > 1) attributes.path = url.pathname.slice(1)
      if (url.username) attributes.username = decodeURIComponent(url.username)
    } catch {
      // Not a URL: git would not send one; nothing to learn from it.
    }
  }
  return attributes
}

/**
 * Writes attributes as git reads them. A value with a newline or NUL would end the answer early
 * (git refuses such values itself), so it is refused here too.
 *
 * @param attributes - Keys and values, in the order to write them.
 * @returns The lines, each ending in `\n`.
 * @throws Error when a value contains a newline or NUL.
 */
export function formatCredential(attributes: Readonly<Record<string, string>>): string {
  return Object.entries(attributes)
    .map(([key, value]) => {
      if (/[\n\0]/.test(value)) throw new Error(`credential attribute ${key} contains a newline or NUL`)
      return `${key}=${value}\n`
    })
    .join('')
}

/** Quotes a word for the POSIX shell git runs `!` helpers with (Git for Windows ships one too). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}
