/**
 * The keychain store against a real Secret Service: a private D-Bus session started with
 * `dbus-run-session`, running `gnome-keyring-daemon` unlocked, exactly as a Linux desktop has it.
 * `secret-tool` must see what keyfob wrote. Without those programs the suite skips with the
 * reason on a laptop; under CI=true it fails instead (scripts/ci-system-deps.sh installs them).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keychainTokenStore } from '../src/index.ts'
import { SECRET, tokenStoreContract } from './contract.ts'

const programs = ['dbus-run-session', 'gnome-keyring-daemon', 'secret-tool']
const missing = programs.filter((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0)
const reason = missing.length
  ? `needs ${missing.join(', ')} (apt-get install dbus gnome-keyring libsecret-tools, or bash scripts/ci-system-deps.sh)`
  : process.platform !== 'linux'
    ? 'the gnome-keyring session is Linux-only'
    : undefined
if (reason && process.env.CI === 'true')
  throw new Error(`the keychain tests are required under CI=true but ${reason}`)
if (reason) console.warn(`skipping the real-keychain tests: ${reason}`)

const probeScript = join(import.meta.dirname, 'fixtures', 'keychain-probe.mjs')
const raceScript = join(import.meta.dirname, 'fixtures', 'keychain-race.mjs')
const home = mkdtempSync(join(tmpdir(), 'keyfob-keyring-'))
let session: ChildProcess | undefined
let busAddress = ''

/** Runs the probe fixture in a child with the given D-Bus address (or none). */
function probeWith(
  address: string | undefined,
  timeoutMs: number,
): { code?: string; message?: string; ms: number } {
  const env = { ...process.env }
  delete env.DBUS_SESSION_BUS_ADDRESS
  if (address !== undefined) env.DBUS_SESSION_BUS_ADDRESS = address
  const out = execFileSync(process.execPath, [probeScript, home, String(timeoutMs)], { env, timeout: 30_000 })
  return JSON.parse(String(out))
}

describe.skipIf(reason !== undefined)('keychain store on a real gnome-keyring', () => {
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
        env: { ...process.env, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_RUNTIME_DIR: home },
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
    // The native module connects on first use, with this address.
    process.env.DBUS_SESSION_BUS_ADDRESS = busAddress
  }, 30_000)

  afterAll(() => {
    if (session?.pid) process.kill(-session.pid, 'SIGTERM')
  })

  let n = 0
  tokenStoreContract(
    'keychain',
    () =>
      keychainTokenStore({
        service: `keyfob-test-${process.pid}-${++n}`,
        lockDir: join(home, 'locks'),
        timeoutMs: 10_000,
      }),
    { timeoutMs: 30_000 },
  )

  it('writes entries secret-tool can see, one per token key, and removes them', async () => {
    const service = `keyfob-visible-${process.pid}`
    const store = keychainTokenStore({ service, lockDir: join(home, 'locks'), timeoutMs: 10_000 })
    await store.probe()
    const key = { issuer: 'https://idp.example', clientId: 'cli', account: 'work' }
    await store.set(key, { refreshToken: SECRET, updatedAt: 1 })
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: busAddress }
    const search = spawnSync('secret-tool', ['search', '--all', 'service', service], {
      env,
      encoding: 'utf8',
    })
    const found = `${search.stdout}${search.stderr}`
    expect(found).toContain('cli@https://idp.example#work')
    // secret-tool prints the secret: keyfob's entry, whose data is the record in base64.
    const decoded = [...found.matchAll(/"data":"([^"]+)"/g)].map((m) =>
      Buffer.from(m[1] ?? '', 'base64').toString('utf8'),
    )
    expect(decoded.some((d) => d.includes(SECRET))).toBe(true)
    await store.delete(key)
    const after = spawnSync('secret-tool', ['search', '--all', 'service', service], { env, encoding: 'utf8' })
    expect(`${after.stdout}${after.stderr}`).not.toContain('cli@https://idp.example#work')
  }, 30_000)

  it('one writer alternating records of 2 and 6 chunks, two readers: no read fails or returns a mixed record', async () => {
    const service = `keyfob-race-${process.pid}`
    const lockDir = join(home, 'race-locks')
    const stop = join(home, `race-stop-${process.pid}`)
    const run = (...args: string[]) => {
      const child = spawn(process.execPath, [raceScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
      let code: number | null | undefined
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (c) => {
          code = c
          resolve(c)
        }),
      )
      return { out: () => out, err: () => err, exited, ended: () => code !== undefined }
    }
    const writer = run('writer', lockDir, service, '40')
    const end = Date.now() + 60_000
    while (!writer.out().includes('\n')) {
      if (writer.ended() || Date.now() > end) throw new Error(`the writer did not write: ${writer.err()}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const readers = [run('reader', lockDir, service, stop), run('reader', lockDir, service, stop)]
    expect(await writer.exited, writer.err()).toBe(0)
    writeFileSync(stop, '')
    const codes = await Promise.all(readers.map((r) => r.exited))
    expect(codes, readers.map((r) => r.err()).join('\n')).toEqual([0, 0])
    const summaries = readers.map((r) => JSON.parse(r.out()) as { reads: number; failures: string[] })
    expect(writer.out().trim().split('\n')).toHaveLength(40)
    for (const summary of summaries) {
      expect(summary.reads).toBeGreaterThan(0)
      expect(summary.failures).toEqual([])
    }
  }, 180_000)

  it('4 processes × 10 TokenStore.update increments of one record: none is lost', async () => {
    const service = `keyfob-update-${process.pid}`
    const lockDir = join(home, 'update-locks')
    const children = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, [raceScript, 'update', lockDir, service, '10'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let err = ''
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
      return new Promise<string>((resolve) => child.once('exit', (code) => resolve(`${code} ${err}`.trim())))
    })
    expect(await Promise.all(children)).toEqual(['0', '0', '0', '0'])
    const store = keychainTokenStore({ service, lockDir, timeoutMs: 20_000 })
    expect((await store.get({ issuer: 'https://idp.example', clientId: 'counter' }))?.updatedAt).toBe(40)
  }, 180_000)

  it('without a D-Bus session: ERR_KEYCHAIN_UNAVAILABLE saying what to do', () => {
    const result = probeWith(undefined, 3_000)
    expect(result.code).toBe('ERR_KEYCHAIN_UNAVAILABLE')
    expect(result.message).toContain('DBUS_SESSION_BUS_ADDRESS')
    expect(result.message).toContain('--store file')
  })

  it('with a D-Bus that never answers: ERR_KEYCHAIN_UNAVAILABLE at the time limit, and the process still exits', async () => {
    const socket = join(home, 'hung-bus')
    const server: Server = createServer(() => {}) // accepts, never answers
    await new Promise<void>((resolve) => server.listen(socket, resolve))
    try {
      const result = probeWith(`unix:path=${socket}`, 500)
      expect(result.code).toBe('ERR_KEYCHAIN_UNAVAILABLE')
      expect(result.message).toContain('no answer within 500 ms')
    } finally {
      server.close()
    }
  }, 30_000)
})
