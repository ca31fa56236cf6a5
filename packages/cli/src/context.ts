/**
 * What every command gets: output (plain, colored or JSON), prompts that refuse to hang a script,
 * cancellation on Ctrl-C, the stores, and the one place that turns an error into a line and an
 * exit code.
 *
 * @module
 */
import { writeSync } from 'node:fs'
import type { Readable } from 'node:stream'

/** The exit codes of `keyfob`, documented in `keyfob --help` and the README. */
export const EXIT: {
  readonly ok: 0
  readonly error: 1
  readonly usage: 2
  readonly loginRequired: 3
  readonly storage: 4
  readonly unreachable: 5
  readonly cancelled: 130
} = { ok: 0, error: 1, usage: 2, loginRequired: 3, storage: 4, unreachable: 5, cancelled: 130 }

/** A bad command line: exit code 2 and a pointer to the help. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** A stream as `keyfob` writes to it. */
export interface OutStream {
  write(text: string): unknown
  readonly isTTY?: boolean
}

/** Streams and environment, injectable for tests; default the process's. */
export interface CliIo {
  readonly stdout?: OutStream
  readonly stderr?: OutStream
  readonly stdin?: Readable & {
    readonly isTTY?: boolean
    setRawMode?: (raw: boolean) => unknown
  }
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** Options that every command takes. */
export interface GlobalOptions {
  readonly store?: string
  readonly configDir?: string
  readonly dataDir?: string
  readonly debug?: boolean
  readonly json?: boolean
  /** `-v`/`--verbose` given this many times (as openeo-auth's): 1 adds progress notes, 2 is `--debug`. */
  readonly verbose?: number
}

const LOGIN_REQUIRED = new Set([
  'ERR_LOGIN_REQUIRED',
  'ERR_INVALID_GRANT',
  'ERR_NO_REFRESH_TOKEN',
  'ERR_NO_PROVIDER',
])
/** "The provider is unavailable or broken right now": retry later. */
const UNREACHABLE = new Set([
  'ERR_NETWORK',
  'ERR_TIMEOUT',
  'ERR_DISCOVERY',
  'ERR_SERVER_ERROR',
  'ERR_TEMPORARILY_UNAVAILABLE',
  // A malformed answer: the provider is broken right now, not the user's login or input.
  'ERR_INVALID_RESPONSE',
])
const STORAGE = new Set([
  'ERR_INSECURE_PERMISSIONS',
  'ERR_KEYCHAIN_UNAVAILABLE',
  'ERR_LOCK_TIMEOUT',
  'ERR_CORRUPT_FILE',
  'ERR_VALUE_TOO_LARGE',
  'ERR_STORE',
])

/**
 * The exit code for an error: by its `code` when it has one.
 *
 * @param error - Anything thrown.
 * @returns One of {@link EXIT}.
 * @internal
 */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage
  const code = (error as { code?: unknown } | undefined)?.code
  if (typeof code !== 'string') return EXIT.error
  if (code === 'ERR_ABORTED') return EXIT.cancelled
  if (LOGIN_REQUIRED.has(code)) return EXIT.loginRequired
  if (UNREACHABLE.has(code)) return EXIT.unreachable
  if (STORAGE.has(code)) return EXIT.storage
  return EXIT.error
}

/**
 * Parses a duration: `90` (seconds), `90s`, `5m`, `1h`, `250ms`.
 *
 * @param text - The flag's value.
 * @param flag - The flag's name, for the error.
 * @returns Milliseconds.
 * @throws UsageError for anything else.
 * @internal
 */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (!match)
    throw new UsageError(`--${flag} ${JSON.stringify(text)} is not a duration; use e.g. 90s, 5m or 1h`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'] as number
  return Math.round(Number(match[1]) * unit)
}

/** The command's world. One per run. */
export class Context {
  readonly globals: GlobalOptions
  readonly env: Readonly<Record<string, string | undefined>>
  readonly #io: CliIo
  #abort: AbortController | undefined
  #onSigint: (() => void) | undefined

  constructor(io: CliIo | undefined, globals: GlobalOptions) {
    this.#io = io ?? {}
    this.globals = globals
    this.env = this.#io.env ?? process.env
  }

  get #stderr(): OutStream {
    return this.#io.stderr ?? process.stderr
  }

  #statusShown = false

  /** Whether a person is there to answer prompts: stdin and stderr are terminals. */
  get interactive(): boolean {
    const stdin = this.#io.stdin ?? process.stdin
    return stdin.isTTY === true && this.#stderr.isTTY === true
  }

  /** Whether stderr is a terminal (a person may read it), whatever `NO_COLOR` says. */
  get terminal(): boolean {
    return this.#stderr.isTTY === true
  }

  /** Whether stderr may carry colors and live updates (a terminal, and no `NO_COLOR`). */
  get color(): boolean {
    const noColor = this.env.NO_COLOR
    return (
      this.#stderr.isTTY === true && (noColor === undefined || noColor === '') && this.env.TERM !== 'dumb'
    )
  }

  /** Writes to stdout (the result: a token, JSON, a table). */
  out(text: string): void {
    if (this.#io.stdout) {
      this.#io.stdout.write(text)
      return
    }
    // One synchronous write to fd 1 instead of building process.stdout's stream machinery (about
    // 30 internal modules, a tenth of `keyfob token`'s start-up); a non-blocking pipe that is full
    // (EAGAIN) falls back to the stream, which queues.
    const bytes = Buffer.from(text)
    let written = 0
    try {
      while (written < bytes.length) written += writeSync(1, bytes, written)
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN') throw error
      process.stdout.write(bytes.subarray(written))
    }
  }

  /** Writes a line to stderr (progress, notes, prompts). */
  note(text: string): void {
    this.#stderr.write(`${text}\n`)
  }

  /** Writes a line to stderr only with `-v`/`--verbose` (which files, which URLs, which login). */
  info(text: string): void {
    if ((this.globals.verbose ?? 0) > 0) this.note(text)
  }

  /** Writes a live-updating status line on a terminal; nothing otherwise. */
  status(text: string): void {
    if (this.color) {
      this.#statusShown = true
      this.#stderr.write(`\r\u001b[2K${text}`)
    }
  }

  /** Ends a live status line, if one is shown (idempotent). */
  statusDone(): void {
    if (this.#statusShown) this.#stderr.write('\r\u001b[2K')
    this.#statusShown = false
  }

  /** Prints a line on stderr under `--debug` only. */
  debug(text: string): void {
    if (this.globals.debug) this.note(`debug: ${text}`)
  }

  /** Prints a JSON document on stdout. */
  json(value: unknown): void {
    this.out(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** Wraps text in an ANSI style when colors are on. */
  paint(text: string, style: 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan'): string {
    if (!this.color) return text
    const codes = {
      bold: [1, 22],
      dim: [2, 22],
      red: [31, 39],
      green: [32, 39],
      yellow: [33, 39],
      cyan: [36, 39],
    }
    const [on, off] = codes[style]
    return `\u001b[${on}m${text}\u001b[${off}m`
  }

  /** Aborted by Ctrl-C (SIGINT); listening starts on first use. */
  get signal(): AbortSignal {
    if (!this.#abort) {
      const abort = new AbortController()
      this.#abort = abort
      this.#onSigint = () => abort.abort(new Error('cancelled by Ctrl-C'))
      process.once('SIGINT', this.#onSigint)
    }
    return this.#abort.signal
  }

  /** Stops listening for Ctrl-C. */
  dispose(): void {
    if (this.#onSigint) process.off('SIGINT', this.#onSigint)
  }

  /**
   * Asks a question on the terminal, or fails naming the flag to pass when nobody is there.
   *
   * @param question - The prompt.
   * @param options - `flag` to name when not interactive; `secret` hides the input.
   * @returns The answer, trimmed.
   * @throws UsageError when not interactive.
   */
  async prompt(
    question: string,
    options: { readonly flag: string; readonly secret?: boolean },
  ): Promise<string> {
    if (!this.interactive)
      throw new UsageError(
        `${options.flag} is required when there is no terminal to ask on (stdin is not a TTY)`,
      )
    const stdin = this.#io.stdin ?? process.stdin
    this.#stderr.write(question)
    if (options.secret && stdin.setRawMode) return this.#readHidden(stdin)
    const { createInterface } = await import('node:readline/promises')
    const rl = createInterface({ input: stdin, terminal: false })
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        rl.once('line', resolve)
        rl.once('close', () => reject(Object.assign(new Error('input closed'), { code: 'ERR_ABORTED' })))
      })
      return answer.trim()
    } finally {
      rl.close()
    }
  }

  /**
   * Reads all of stdin (a piped secret, e.g. `login --with-token`), refusing a terminal.
   *
   * @param flag - The flag that reads stdin, for the message.
   * @returns What was piped in.
   * @throws UsageError when stdin is a terminal.
   */
  async readStdin(flag: string): Promise<string> {
    const stdin = this.#io.stdin ?? process.stdin
    if (stdin.isTTY === true)
      throw new UsageError(`${flag} reads stdin: pipe the value in (e.g. printenv TOKEN | keyfob … ${flag})`)
    let text = ''
    for await (const chunk of stdin) text += String(chunk)
    return text
  }

  #readHidden(stdin: NonNullable<CliIo['stdin']>): Promise<string> {
    return new Promise((resolve, reject) => {
      let value = ''
      stdin.setRawMode?.(true)
      stdin.resume()
      const onData = (chunk: Buffer | string) => {
        for (const char of String(chunk)) {
          if (char === '\r' || char === '\n') return finish(() => resolve(value.trim()))
          if (char === '\u0003')
            return finish(() =>
              reject(Object.assign(new Error('cancelled by Ctrl-C'), { code: 'ERR_ABORTED' })),
            )
          if (char === '\u007f') value = value.slice(0, -1)
          else value += char
        }
      }
      const finish = (then: () => void) => {
        stdin.off('data', onData)
        stdin.setRawMode?.(false)
        stdin.pause()
        this.#stderr.write('\n')
        then()
      }
      stdin.on('data', onData)
    })
  }

  /**
   * Prints an error as one line on stderr (with the cause and stack under `--debug`) and returns
   * its exit code.
   *
   * @param error - What went wrong.
   * @param help - The command whose help to point at, for usage errors.
   * @returns The exit code.
   */
  fail(error: unknown, help: string): number {
    this.statusDone()
    const code = exitCodeOf(error)
    const message = error instanceof Error ? error.message : String(error)
    const known = error instanceof UsageError || typeof (error as { code?: unknown })?.code === 'string'
    const tag = (error as { code?: unknown })?.code
    const prefix = this.paint('error:', 'red')
    if (code === EXIT.cancelled) this.note('cancelled')
    else if (known) this.note(`${prefix} ${message}${typeof tag === 'string' ? ` [${tag}]` : ''}`)
    else this.note(`${prefix} unexpected failure: ${message} (run again with --debug for details)`)
    if (code === EXIT.usage) this.note(`Run \`${help}\` for usage.`)
    if (
      !this.globals.debug &&
      (this.globals.verbose ?? 0) > 0 &&
      error instanceof Error &&
      error.cause !== undefined
    )
      this.note(`cause: ${JSON.stringify(error.cause)}`)
    if (this.globals.debug && error instanceof Error) {
      this.note(error.stack ?? '')
      if (error.cause !== undefined) this.note(`cause: ${JSON.stringify(error.cause, null, 2)}`)
    }
    return code
  }
}
