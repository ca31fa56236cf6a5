/** What the Node and the Deno/Bun commands share: loading settings, reporting, waiting for a signal. @module */
import { readFileSync } from 'node:fs'
import { type GatewaySettings, helpText, loadConfig, versionOf } from './config.ts'
import { GatewayError } from './errors.ts'
import { fromFastgeoapiEnv } from './fastgeoapi.ts'

/**
 * Loads the settings from flags, environment and files. `--help` and `--version` are printed
 * here; a configuration error is printed as `keyfob-guard: …` on stderr. Either way the command
 * then exits with `exit`.
 */
export function settingsOf(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  check?: (settings: GatewaySettings) => void,
): { readonly settings: GatewaySettings } | { readonly exit: number } {
  try {
    const loaded = loadConfig({
      argv,
      env,
      readFile: (path) => readFileSync(path, 'utf8'),
      fastgeoapi: fromFastgeoapiEnv,
    })
    if (loaded.help) {
      process.stdout.write(`${loaded.version ? versionOf((url) => readFileSync(url, 'utf8')) : helpText()}\n`)
      return { exit: 0 }
    }
    check?.(loaded.settings)
    return { settings: loaded.settings }
  } catch (error) {
    if (error instanceof GatewayError || isGuardError(error)) {
      process.stderr.write(`keyfob-guard: ${(error as Error).message}\n`)
      return { exit: 2 }
    }
    throw error
  }
}

/** Prints (unless `print` is false) why the gateway could not start; 2 for a setting the guard refuses, else 1. */
export function startFailure(error: unknown, print = true): number {
  if (print) process.stderr.write(`keyfob-guard: ${startMessage(error)}\n`)
  return isGuardError(error) ? 2 : 1
}

/**
 * Why the gateway could not start, in one line: the error's message, and its code when the message
 * does not say it (Bun's "Failed to start server. Is port 8080 in use?" is an `EADDRINUSE`).
 */
export function startMessage(error: unknown): string {
  const message = (error as Error | undefined)?.message ?? String(error)
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message
}

/** The startup line with the port actually bound (the settings may say 0). */
export function announce(summary: string, port: number, suffix = ''): void {
  process.stderr.write(`${summary.replace(/:\d+\//, `:${port}/`)}${suffix}\n`)
}

/** Resolves after the first SIGTERM or SIGINT, once `close` has finished (or failed). */
export function untilSignal(close: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      close().then(resolve, resolve)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}

function isGuardError(error: unknown): boolean {
  return (error as { name?: string } | null)?.name === 'GuardError'
}
