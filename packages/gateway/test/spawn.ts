/** Node-only test helpers: keyfob-guard as a child process (Node, Deno or Bun), its exit, its memory. */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

export const ROOT: string = fileURLToPath(new URL('../../../', import.meta.url))
const NODE_BIN = fileURLToPath(new URL('../bin/keyfob-guard.mjs', import.meta.url))
const WEB_BIN = fileURLToPath(new URL('../bin/keyfob-guard-web.mjs', import.meta.url))

/**
 * How each runtime starts the gateway. `KEYFOB_TEST_GATEWAY_BIN` names a standalone `keyfob-guard`
 * executable (scripts/build-bin.mjs) to run in place of the Node bin: `npm test` runs the process
 * suites against it too.
 */
export const RUNTIMES: Readonly<Record<'node' | 'deno' | 'bun', readonly string[]>> = {
  node: process.env.KEYFOB_TEST_GATEWAY_BIN
    ? [process.env.KEYFOB_TEST_GATEWAY_BIN]
    : [process.execPath, NODE_BIN],
  deno: [`${ROOT}node_modules/.bin/deno`, 'run', '-A', '--config', `${ROOT}deno.test.json`, WEB_BIN],
  bun: [`${ROOT}node_modules/.bin/bun`, WEB_BIN],
}

/** A gateway process that printed its startup line. */
export interface Running {
  readonly child: ChildProcess
  /** The origin it serves, from the startup line. */
  readonly url: string
  readonly stderr: () => string
  readonly stdout: () => string
  readonly exited: Promise<number | null>
}

function spawnGateway(runtime: keyof typeof RUNTIMES, args: readonly string[], env: Record<string, string>) {
  const [command, ...prefix] = RUNTIMES[runtime] as [string, ...string[]]
  return spawn(command, [...prefix, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** Starts the gateway and waits (at most 30 s) for its startup line. */
export function start(
  args: readonly string[],
  env: Record<string, string> = {},
  runtime: keyof typeof RUNTIMES = 'node',
): Promise<Running> {
  const child = spawnGateway(runtime, args, env)
  let err = ''
  let out = ''
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no startup line from ${runtime}: ${err}`)), 30_000)
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString()
      const match = /keyfob-guard: (http:\/\/127\.0\.0\.1:\d+)/.exec(err)
      if (match) {
        clearTimeout(timer)
        resolve({ child, url: match[1] as string, stderr: () => err, stdout: () => out, exited })
      }
    })
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${runtime} exited with ${code}: ${err}`))
    })
  })
}

/** Runs the gateway to completion (it is expected to refuse to start). */
export async function refuse(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  const child = spawnGateway('node', args, env)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { code, stderr }
}

/** Sends SIGTERM; resolves with the exit code. */
export function stop(running: Running): Promise<number | null> {
  running.child.kill('SIGTERM')
  return running.exited
}

/** The resident set size of a process, in KiB (Linux `/proc`). */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
}

/** A loopback port free right now (for `--workers`, whose `--port 0` each worker would pick anew). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}
