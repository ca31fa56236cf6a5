/**
 * `keyfob mock-idp` as a newcomer meets it: without a configuration it serves the demo users and
 * clients of `@keyfob/mock-idp`'s `examples/demo.json` (the ones `npm start` uses), prints them,
 * and a device login with the demo CLI client works against it at once. And a CLI installed
 * without the optional `@keyfob/mock-idp` runs every other command and says how to get it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { envOf, type Result, exec as run } from './spawn.ts'

/** Runs a script of the package with this Node. */
const exec = (script: string, args: readonly string[], env: Record<string, string>): Promise<Result> =>
  run(process.execPath, [script, ...args], env)

const cliDir = join(import.meta.dirname, '..')
const bin = join(cliDir, 'bin', 'keyfob.mjs')
const demo = JSON.parse(readFileSync(join(cliDir, '..', 'mock-idp', 'examples', 'demo.json'), 'utf8')) as {
  users: Array<{ sub: string; password: string }>
  clients: Array<{ clientId: string; clientSecret?: string }>
}

const running: ChildProcess[] = []
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

/** Starts `keyfob mock-idp` and resolves its stdout once it has printed `until` in full. */
async function startIdp(
  home: string,
  args: string[],
  until: RegExp,
): Promise<{ child: ChildProcess; out: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [bin, 'mock-idp', ...args], {
    env: envOf(home),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d) => {
    stdout += d
  })
  child.stderr?.on('data', (d) => {
    stderr += d
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  for (let i = 0; i < 400 && !until.test(stdout); i++) {
    if (child.exitCode !== null) throw new Error(`keyfob mock-idp exited: ${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  expect(stdout).toMatch(until)
  return { child, out: () => stdout, exited }
}

describe('keyfob mock-idp', () => {
  it('without a config: the demo users and clients, printed with their passwords, and a login that works', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keyfob-idp-'))
    const { child, out, exited } = await startIdp(
      home,
      ['--port', '0'],
      /Try, in another terminal:[\s\S]*login/,
    )
    const banner = out()
    const issuer = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1] as string
    expect(issuer).toBeDefined()
    for (const user of demo.users) expect(banner).toContain(`${user.sub} / ${user.password}`)
    for (const client of demo.clients) {
      expect(banner).toContain(client.clientId)
      if (client.clientSecret) expect(banner).toContain(`secret ${client.clientSecret}`)
    }

    // What the banner suggests works: the demo CLI client, a device login approved as alice.
    const added = await exec(
      bin,
      ['add-oidc', issuer, '--provider-id', 'mock', '--client-id', 'keyfob-cli', '--no-client-secret'],
      envOf(home),
    )
    expect(added.code).toBe(0)
    const approve = (async () => {
      for (let i = 0; i < 400; i++) {
        const devices = (await (await fetch(`${issuer}/_control/devices`)).json()) as Array<{
          userCode: string
          status: string
        }>
        const pending = devices.find((d) => d.status === 'pending')
        if (pending) {
          const approved = await fetch(`${issuer}/_control/devices/${pending.userCode}/approve`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ sub: 'alice' }),
          })
          return approved.status
        }
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      return 0
    })()
    const [login, approval] = await Promise.all([
      exec(bin, ['login', '--device', '--no-qr', '--json'], envOf(home)),
      approve,
    ])
    expect(approval).toBe(200)
    expect(login.code).toBe(0)
    expect(JSON.parse(login.stdout)).toMatchObject({ issuer, clientId: 'keyfob-cli', subject: 'alice' })
    const token = await exec(bin, ['token'], envOf(home))
    expect(token.code).toBe(0)
    expect(token.stdout.trim()).toMatch(/^eyJ/)

    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  }, 60_000)

  it('--json prints the issuer, the users and the clients it serves', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keyfob-idp-'))
    const { child, out, exited } = await startIdp(home, ['--port', '0', '--json'], /^\{[\s\S]*\n\}\n/)
    const printed = JSON.parse(out())
    expect(printed.config).toBe('demo')
    expect(printed.users).toEqual(demo.users.map((u) => ({ sub: u.sub, password: u.password })))
    expect(printed.clients.map((c: { clientId: string }) => c.clientId)).toEqual(
      demo.clients.map((c) => c.clientId),
    )
    const discovery = await fetch(`${printed.issuer}/.well-known/openid-configuration`)
    expect(discovery.status).toBe(200)
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  }, 30_000)

  it('without @keyfob/mock-idp installed: every other command runs, mock-idp says how to install it', async () => {
    // The CLI as npm would install it with `--omit=optional`: its own files, its required
    // dependencies, and no @keyfob/mock-idp anywhere up the tree.
    const root = mkdtempSync(join(tmpdir(), 'keyfob-no-idp-'))
    const installed = join(root, 'node_modules', '@keyfob', 'cli')
    mkdirSync(installed, { recursive: true })
    for (const entry of ['bin', 'dist', 'package.json'])
      cpSync(join(cliDir, entry), join(installed, entry), { recursive: true })
    for (const dependency of ['core', 'flows', 'store'])
      symlinkSync(join(cliDir, '..', dependency), join(root, 'node_modules', '@keyfob', dependency), 'dir')
    const installedBin = join(installed, 'bin', 'keyfob.mjs')
    const home = mkdtempSync(join(tmpdir(), 'keyfob-idp-'))

    const paths = await exec(installedBin, ['paths', '--json'], envOf(home))
    expect(paths.stderr).toBe('')
    expect(paths.code).toBe(0)
    expect(JSON.parse(paths.stdout).configDir).toBe(join(home, 'config'))

    const idp = await exec(installedBin, ['mock-idp', '--port', '0'], envOf(home))
    expect(idp.code).toBe(1)
    expect(idp.stdout).toBe('')
    expect(idp.stderr).toContain('install @keyfob/mock-idp to run the mock IdP')
    expect(idp.stderr.trim().split('\n')).toHaveLength(1)
  }, 30_000)
})
