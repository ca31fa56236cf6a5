/**
 * Where a login lives is remembered: `keyfob login --store keychain` against a real gnome-keyring
 * (a private D-Bus session, as the store's own keychain tests run it), then plain `keyfob token`
 * and `status` find it without the flag; with the keychain gone they say so (exit 4) instead of
 * "log in again"; `logout` forgets the location. Skips with the reason on a laptop without the
 * programs; required under CI=true.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newHome, type Result, keyfob as spawnKeyfob } from './spawn.ts'

const programs = ['dbus-run-session', 'gnome-keyring-daemon']
const missing = programs.filter((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0)
const reason = missing.length
  ? `needs ${missing.join(', ')} (bash scripts/ci-system-deps.sh)`
  : process.platform !== 'linux'
    ? 'the gnome-keyring session is Linux-only'
    : undefined
if (reason && process.env.CI === 'true')
  throw new Error(`the CLI keychain test is required under CI=true but ${reason}`)
if (reason) console.warn(`skipping the CLI keychain test: ${reason}`)

const home = newHome('keyfob-cli-keyring-')
let session: ChildProcess | undefined
let busAddress = ''
let server: MockIdpServer

/** Runs keyfob with HOME in the test's home; `bus: false` runs it without a session bus (no keychain). */
function keyfob(
  args: string[],
  options: { bus?: boolean; env?: Record<string, string> } = {},
): Promise<Result> {
  return spawnKeyfob(home, args, {
    HOME: home,
    ...(options.bus === false ? {} : { DBUS_SESSION_BUS_ADDRESS: busAddress }),
    ...options.env,
  })
}

describe.skipIf(reason !== undefined)('a keychain login is found without --store', () => {
  beforeAll(async () => {
    const addressFile = join(home, 'bus-address')
    session = spawn(
      'dbus-run-session',
      [
        '--',
        'sh',
        '-c',
        `printf %s "$DBUS_SESSION_BUS_ADDRESS" > '${addressFile}.tmp' && printf keyfob | gnome-keyring-daemon --unlock --components=secrets >/dev/null && mv '${addressFile}.tmp' '${addressFile}' && exec sleep 600`,
      ],
      {
        env: { ...process.env, HOME: home, XDG_DATA_HOME: join(home, 'xdg'), XDG_RUNTIME_DIR: home },
        stdio: 'ignore',
        detached: true,
      },
    )
    const end = Date.now() + 15_000
    while (!existsSync(addressFile)) {
      if (Date.now() > end) throw new Error('gnome-keyring-daemon did not start within 15 s')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    busAddress = readFileSync(addressFile, 'utf8')
    server = await serve({
      port: 0,
      lifetimes: { accessTokenS: 600 },
      users: [{ sub: 'alice', password: 'alice' }],
      clients: [{ clientId: 'pw', clientSecret: 'pw-secret', grantTypes: ['password', 'refresh_token'] }],
    })
  }, 30_000)

  afterAll(async () => {
    await server?.close()
    if (session?.pid) process.kill(-session.pid, 'SIGTERM')
  })

  it('login --store keychain, then token, status and logout without the flag', async () => {
    expect(
      (await keyfob(['add-oidc', server.issuer, '--provider-id', 'mock', '--client-id', 'pw'])).code,
    ).toBe(0)
    const login = await keyfob(['login', '--password', '--username', 'alice', '--store', 'keychain'], {
      env: { KEYFOB_PASSWORD: 'alice', KEYFOB_CLIENT_SECRET: 'pw-secret' },
    })
    expect([login.code, login.stderr]).toEqual([0, expect.stringContaining('(keychain store)')])
    // Nothing of it in the file store; its location is in the config.
    expect(existsSync(join(home, 'data', 'tokens.json'))).toBe(false)
    const config = JSON.parse(readFileSync(join(home, 'config', 'config.json'), 'utf8'))
    expect(config.tokenLocations).toEqual([{ issuer: server.issuer, clientId: 'pw', store: 'keychain' }])

    const token = await keyfob(['token'])
    expect(token.code).toBe(0)
    expect(token.stdout.trim()).toMatch(/^eyJ/)
    const status = JSON.parse((await keyfob(['status', '--json'])).stdout)
    expect(status.logins.map((l: { clientId: string }) => l.clientId)).toEqual(['pw'])

    // The keychain gone (no session bus): the login is known to live there, so exit 4, not 3.
    const without = await keyfob(['token'], { bus: false })
    expect(without.code).toBe(4)
    expect(without.stderr).toContain('a login recorded as living in the keychain cannot be read')
    // --store auto means "wherever it lives" too: not the empty file store's "log in again".
    expect((await keyfob(['token', '--store', 'auto'], { bus: false })).code).toBe(4)

    const logout = await keyfob(['logout', '--json'], { env: { KEYFOB_CLIENT_SECRET: 'pw-secret' } })
    expect(logout.code).toBe(0)
    expect(JSON.parse(logout.stdout).logouts[0]).toMatchObject({ revoked: true, removed: true })
    expect(
      JSON.parse(readFileSync(join(home, 'config', 'config.json'), 'utf8')).tokenLocations,
    ).toBeUndefined()
    expect((await keyfob(['status'])).code).toBe(3)
  }, 120_000)
})
