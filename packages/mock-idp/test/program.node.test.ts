/**
 * The `keyfob-mock-idp` program as a process on a real socket: startup on a free port, the OAuth
 * endpoints and the control plane over HTTP, its Host and Origin checks, a taken port, signals, and
 * the Python example (examples/python-mock-idp) driving it with Debian's python3.
 *
 * It runs the npm bin (bin/mock-idp.mjs on this Node), or the standalone executable that
 * `KEYFOB_TEST_MOCK_IDP_BIN` names (the binaries phase of scripts/test.mjs): the same file for both.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'

const standalone = process.env.KEYFOB_TEST_MOCK_IDP_BIN
const npmBin = join(import.meta.dirname, '..', 'bin', 'mock-idp.mjs')
const command: readonly [string, ...string[]] =
  standalone !== undefined ? [standalone] : [process.execPath, npmBin]
const version = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version

interface Running {
  readonly child: ChildProcessWithoutNullStreams
  readonly issuer: string
  readonly port: number
  readonly exited: Promise<number | null>
  readonly stderr: () => string
}

/** Starts the program and waits (at most 15 s) for the line naming where it listens. */
function start(args: readonly string[] = ['--port', '0']): Promise<Running> {
  const child = spawn(command[0], [...command.slice(1), ...args], {
    env: { PATH: process.env.PATH ?? '' },
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`no "listening" line within 15 s; stderr: ${err}`))
    }, 15_000)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`exited with ${code} before listening; stderr: ${err}`))
    })
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const match = /mock IdP listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve({ child, issuer: match[1] as string, port: Number(match[2]), exited, stderr: () => err })
      }
    })
  })
}

/** Runs the program to its end (help, version, refusals), killed after 15 s. */
function run(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command[0], [...command.slice(1), ...args], { encoding: 'utf8', timeout: 15_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

async function stop(running: Running, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  running.child.kill(signal)
  return running.exited
}

const json = { 'content-type': 'application/json' }
const form = { 'content-type': 'application/x-www-form-urlencoded' }

/** A GET with a Host header `fetch` would not let us set. */
function rawGet(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.once('error', reject)
    req.end()
  })
}

describe(`keyfob-mock-idp as a process (${standalone ?? 'the npm bin'})`, () => {
  it('--version, --help and a usage error', () => {
    expect(run(['--version'])).toEqual({ status: 0, stdout: `${version}\n`, stderr: '' })
    const help = run(['--help'])
    expect([help.status, help.stdout]).toEqual([0, expect.stringContaining('Usage: keyfob-mock-idp')])
    const wrong = run(['--prot', '1'])
    expect([wrong.status, wrong.stderr]).toEqual([2, expect.stringContaining('--prot')])
  })

  it('registers a client over the control plane and issues it a token its JWKS verifies', async () => {
    const idp = await start()
    try {
      const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as {
        issuer: string
        token_endpoint: string
        jwks_uri: string
      }
      expect(discovery.issuer).toBe(idp.issuer)
      const added = await fetch(`${idp.issuer}/_control/clients`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({
          clientId: 'svc',
          clientSecret: 'svc-secret',
          grantTypes: ['client_credentials'],
        }),
      })
      expect(added.status).toBe(201)
      const answer = await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { ...form, authorization: `Basic ${btoa('svc:svc-secret')}` },
        body: 'grant_type=client_credentials',
      })
      expect(answer.status).toBe(200)
      const { access_token } = (await answer.json()) as { access_token: string }
      const { payload } = await jwtVerify(access_token, createRemoteJWKSet(new URL(discovery.jwks_uri)), {
        issuer: idp.issuer,
      })
      expect(payload.client_id).toBe('svc')
      const refused = await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { ...form, authorization: `Basic ${btoa('svc:wrong')}` },
        body: 'grant_type=client_credentials',
      })
      expect([refused.status, ((await refused.json()) as { error: string }).error]).toEqual([
        401,
        'invalid_client',
      ])
    } finally {
      expect(await stop(idp)).toBe(0)
    }
  })

  it('a device login approved through the control plane, then userinfo (--config sets the interval)', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'keyfob-mock-idp-')), 'config.json')
    writeFileSync(config, JSON.stringify({ deviceIntervalS: 1 }))
    const idp = await start(['--port', '0', '--config', config])
    try {
      const control = (path: string, body: unknown) =>
        fetch(`${idp.issuer}/_control${path}`, { method: 'POST', headers: json, body: JSON.stringify(body) })
      expect(
        (await control('/users', { sub: 'ada', password: 'pw', claims: { email: 'ada@example.com' } }))
          .status,
      ).toBe(201)
      expect(
        (
          await control('/clients', {
            clientId: 'cli',
            grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'],
          })
        ).status,
      ).toBe(201)
      const device = (await (
        await fetch(`${idp.issuer}/device_authorization`, {
          method: 'POST',
          headers: form,
          body: 'client_id=cli&scope=openid%20email',
        })
      ).json()) as { device_code: string; user_code: string; interval: number }
      expect(device.interval).toBe(1)
      const poll = () =>
        fetch(`${idp.issuer}/token`, {
          method: 'POST',
          headers: form,
          body: new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
            device_code: device.device_code,
            client_id: 'cli',
          }),
        })
      const pending = await poll()
      expect([pending.status, ((await pending.json()) as { error: string }).error]).toEqual([
        400,
        'authorization_pending',
      ])
      expect((await control(`/devices/${device.user_code}/approve`, { sub: 'ada' })).status).toBe(200)
      // The pending poll came just now: move the IdP's clock past the interval rather than meet
      // slow_down (the control plane's clock is the one the token endpoint reads).
      expect((await control('/clock', { advanceMs: 1_100 })).status).toBe(200)
      const tokens = (await (await poll()).json()) as { access_token?: string; error?: string }
      expect(tokens).toEqual(expect.objectContaining({ access_token: expect.any(String) }))
      const user = await fetch(`${idp.issuer}/userinfo`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      })
      expect(await user.json()).toEqual(expect.objectContaining({ sub: 'ada', email: 'ada@example.com' }))
    } finally {
      expect(await stop(idp)).toBe(0)
    }
  }, 30_000)

  it('the control plane refuses a foreign Host and an Origin; OAuth endpoints do not care', async () => {
    const idp = await start()
    try {
      expect(await rawGet(idp.port, '/_control/users', `attacker.example:${idp.port}`)).toBe(403)
      expect(await rawGet(idp.port, '/_control/users', `127.0.0.1:${idp.port}`)).toBe(200)
      expect(await rawGet(idp.port, '/jwks', `attacker.example:${idp.port}`)).toBe(200)
      const evil = await fetch(`${idp.issuer}/_control/users`, {
        headers: { origin: 'https://evil.example' },
      })
      expect([evil.status, evil.headers.get('access-control-allow-origin')]).toEqual([403, null])
    } finally {
      expect(await stop(idp)).toBe(0)
    }
  })

  it('a taken port: exit 1, the port named and what to do instead; SIGINT exits 130', async () => {
    const idp = await start()
    try {
      const second = run(['--port', String(idp.port)])
      expect(second.status).toBe(1)
      expect(second.stderr).toContain(String(idp.port))
      expect(second.stderr).toContain('--port 0')
    } finally {
      expect(await stop(idp, 'SIGINT')).toBe(130)
    }
  })

  const python = '/usr/bin/python3'
  const pythonMissing = existsSync(python)
    ? undefined
    : `needs Debian's ${python} (bash scripts/ci-system-deps.sh)`
  if (pythonMissing && process.env.CI === 'true')
    throw new Error(`the Python example is required under CI=true but ${pythonMissing}`)
  it.skipIf(pythonMissing !== undefined)(
    `examples/python-mock-idp runs against it with ${python}${pythonMissing ? ` (skipped: ${pythonMissing})` : ''}`,
    () => {
      const example = join(import.meta.dirname, '..', '..', '..', 'examples', 'python-mock-idp')
      const result = spawnSync(python, ['example.py'], {
        cwd: example,
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? '',
          KEYFOB_MOCK_IDP: command.map((w) => JSON.stringify(w)).join(' '),
        },
      })
      expect([result.status, result.stderr]).toEqual([0, ''])
      expect(result.stdout).toContain('client credentials: a 3600 s token for py-service')
      expect(result.stdout).toContain('device flow: logged in as ada <ada@example.com>')
    },
    60_000,
  )
})
