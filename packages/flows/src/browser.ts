/**
 * Opening the user's browser: a hook with a sensible default per OS. The caller always prints the
 * URL too, so a failed or impossible open (SSH session, container) never blocks a login.
 *
 * @module
 */

/** Opens `url` for the user; resolves `true` when a browser was asked to open it. */
export type OpenBrowser = (url: string) => Promise<boolean>

interface ChildProcessLike {
  spawn(
    command: string,
    args: readonly string[],
    options: { stdio: 'ignore'; detached: boolean; windowsHide?: boolean },
  ): { once(event: 'error' | 'spawn', listener: (error?: unknown) => void): void; unref(): void }
}

/**
 * The command that opens a URL on a platform, with the URL as one argument (no shell).
 *
 * @param platform - `process.platform` or Deno's `build.os`.
 * @param url - The URL.
 * @returns The command and its arguments, or `undefined` where none is known.
 * @example
 * ```ts
 * openCommand('darwin', 'https://idp.example') // { command: 'open', args: ['https://idp.example'] }
 * ```
 */
export function openCommand(platform: string, url: string): { command: string; args: string[] } | undefined {
  switch (platform) {
    case 'darwin':
      return { command: 'open', args: [url] }
    case 'win32':
    case 'windows':
      // rundll32 takes the URL as one argument: no shell, so no quoting pitfalls with & in URLs.
      return { command: 'rundll32', args: ['url.dll,FileProtocolHandler', url] }
    case 'linux':
    case 'freebsd':
    case 'openbsd':
      return { command: 'xdg-open', args: [url] }
    default:
      return undefined
  }
}

/**
 * The default {@link OpenBrowser}: `open` on macOS, `rundll32 url.dll` on Windows, `xdg-open` on
 * Linux and BSD; nothing (resolves `false`) in a browser, an edge worker, or when the command is
 * missing. Only `http:` and `https:` URLs are opened.
 *
 * @param url - The URL to open.
 * @returns Whether a browser was asked to open it.
 * @example
 * ```ts
 * import { openSystemBrowser } from '@keyfob/flows'
 * if (!(await openSystemBrowser(url))) console.log(`Open ${url} in a browser`)
 * ```
 */
export const openSystemBrowser: OpenBrowser = async (url) => {
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') return false
  const proc = (globalThis as { process?: { platform?: string; versions?: { node?: string } } }).process
  const deno = (globalThis as { Deno?: { build?: { os?: string } } }).Deno
  const platform = deno?.build?.os ?? proc?.platform
  if (platform === undefined || proc?.versions?.node === undefined) return false
  const command = openCommand(platform, parsed.href)
  if (!command) return false
  const specifier = 'node:child_process'
  const { spawn } = (await import(specifier)) as ChildProcessLike
  return new Promise<boolean>((resolve) => {
    const child = spawn(command.command, command.args, { stdio: 'ignore', detached: true, windowsHide: true })
    child.once('error', () => resolve(false))
    child.once('spawn', () => {
      child.unref()
      resolve(true)
    })
  })
}
