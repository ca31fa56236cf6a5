/** Runs the built `keyfob` as a user would: a process of its own, its own directories, no color. */
import {
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
  type SpawnOptions,
  type SpawnOptionsWithoutStdio,
  spawn,
} from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A standalone `keyfob` executable to test instead of the npm bin (`npm run build:bin`; the
 * binaries phase of scripts/test.mjs sets it): the same test files run against either.
 */
const standalone = process.env.KEYFOB_TEST_BIN

/** The `keyfob` program under test: the bin the package ships (the bundle, once built), or `KEYFOB_TEST_BIN`. */
export const bin: string = standalone ?? join(import.meta.dirname, '..', 'bin', 'keyfob.mjs')

/** The command that runs `keyfob`: this Node with the npm bin, or the standalone executable alone. */
export const command: readonly [string, ...string[]] =
  standalone !== undefined ? [standalone] : [process.execPath, bin]

/** {@link command} as words for a shell command line (the paths hold no spaces or quotes). */
export const commandLine: string = command.join(' ')

/** Spawns `keyfob args` as {@link command} does, with `options` (a test that drives the process). */
export function spawnKeyfob(
  args: readonly string[],
  options: SpawnOptionsWithoutStdio,
): ChildProcessWithoutNullStreams
export function spawnKeyfob(args: readonly string[], options: SpawnOptions): ChildProcess
export function spawnKeyfob(args: readonly string[], options: SpawnOptions): ChildProcess {
  return spawn(command[0], [...command.slice(1), ...args], options)
}

/** What a run left behind. */
export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** A fresh home for one test's keyfob directories. */
export function newHome(prefix = 'keyfob-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** The environment of a `keyfob` run: PATH, its own config and data directories, no color, `extra`. */
export function envOf(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    KEYFOB_CONFIG_DIR: join(home, 'config'),
    KEYFOB_DATA_DIR: join(home, 'data'),
    NO_COLOR: '1',
    ...extra,
  }
}

/**
 * Runs a program without blocking this process (the mock IdP and other servers of a test live in
 * it), `input` on stdin (a pipe, never a terminal), killed after 60 s so a hang fails the test
 * instead of the run.
 */
export function exec(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  input = '',
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    // A program that exits without reading its stdin (git, a helper that refuses) makes this write
    // fail with EPIPE: what it printed and its exit code are the result, not the write.
    child.stdin.on('error', () => {})
    child.stdin.end(input)
  })
}

/** Runs `keyfob args` with the environment of `home` plus `env`, and `input` on stdin. */
export function keyfob(
  home: string,
  args: readonly string[],
  env: Record<string, string> = {},
  input = '',
): Promise<Result> {
  return exec(command[0], [...command.slice(1), ...args], envOf(home, env), input)
}
