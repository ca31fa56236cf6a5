/**
 * The real `keyfob` binary (built `dist/`, spawned as a user would) against the mock IdP over
 * loopback HTTP: configuration, device login approved through the IdP's HTTP control plane,
 * tokens refreshed after expiry, status, logout with revocation, openEO import, and the errors a
 * script meets. One test drives a prompt in a real terminal (tmux).
 */
import { type ChildProcess, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { commandLine, envOf, keyfob, newHome, spawnKeyfob } from './spawn.ts'

let server: MockIdpServer
const control = (path: string, init?: RequestInit) =>
  fetch(`${server.issuer}/_control${path}`, init).then((r) => r.json())
const journal = async (filter: (e: { endpoint: string; grantType?: string }) => boolean) =>
  (
    (await control('/journal')) as Array<{
      endpoint: string
      grantType?: string
      status: number
      params: Record<string, string>
    }>
  ).filter(filter)

/** Approves the pending device code through the HTTP control plane once it shows up. */
async function approveWhenPending(): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const devices = (await control('/devices')) as Array<{ userCode: string; status: string }>
    const pending = devices.find((d) => d.status === 'pending')
    if (pending) {
      await control(`/devices/${pending.userCode}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      })
      return pending.userCode
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('no device code was requested')
}

beforeAll(async () => {
  server = await serve({
    port: 0,
    deviceIntervalS: 1,
    lifetimes: { accessTokenS: 8 },
    users: [{ sub: 'alice', password: 'alice', claims: { name: 'Alice Example' } }],
    clients: [
      {
        clientId: 'cli',
        grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'authorization_code'],
        redirectUris: ['http://127.0.0.1/callback'],
      },
      { clientId: 'svc', clientSecret: 'svc-secret', grantTypes: ['client_credentials'] },
      { clientId: 'pw', clientSecret: 'pw-secret', grantTypes: ['password', 'refresh_token'] },
    ],
  })
})

afterAll(async () => {
  await server.close()
})

describe('keyfob, end to end', () => {
  it('add-oidc, device login, token while fresh and once due, status, logout', async () => {
    const home = newHome()
    const added = await keyfob(home, [
      'add-oidc',
      server.issuer,
      '--provider-id',
      'mock',
      '--client-id',
      'cli',
      '--json',
    ])
    expect(added.code).toBe(0)
    expect(JSON.parse(added.stdout)).toEqual({
      providerId: 'mock',
      issuer: server.issuer,
      clientId: 'cli',
      api: null,
      default: true,
    })

    const [login, userCode] = await Promise.all([
      keyfob(home, ['login', '--device', '--json']),
      approveWhenPending(),
    ])
    expect(login.code).toBe(0)
    // Scripts see the code as a JSON event on stderr; the result is JSON on stdout.
    expect(
      JSON.parse(
        login.stderr
          .trim()
          .split('\n')
          .find((l) => l.includes('user_code')) ?? '{}',
      ).userCode,
    ).toBe(userCode)
    const status = JSON.parse(login.stdout)
    expect(status).toMatchObject({
      issuer: server.issuer,
      clientId: 'cli',
      subject: 'alice',
      providerIds: ['mock'],
    })
    expect(status.refreshToken.present).toBe(true)

    // Fresh: printed from the store, no request.
    const before = await journal((e) => e.endpoint === 'token').then((t) => t.length)
    const first = await keyfob(home, ['token', '--min-ttl', '1s'])
    expect(first.code).toBe(0)
    expect(first.stdout.trim()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/)
    expect(await journal((e) => e.endpoint === 'token').then((t) => t.length)).toBe(before)

    // Due: asked for more life than the 8-second token has (long enough for a loaded machine to
    // answer the first call from the store), the next call refreshes, once. That is the check an
    // expired token meets (`expiresAt - minTtl <= now`), without waiting 8 s for it to expire.
    const second = await keyfob(home, ['token', '--min-ttl', '9s'])
    expect(second.code).toBe(0)
    expect(second.stdout.trim()).not.toBe(first.stdout.trim())
    expect((await journal((e) => e.grantType === 'refresh_token')).map((e) => e.status)).toEqual([200])
    const third = await keyfob(home, ['token', '--min-ttl', '1s'])
    expect(third.stdout).toBe(second.stdout)

    const statusJson = await keyfob(home, ['status', '--json'])
    expect(statusJson.code).toBe(0)
    const shape = JSON.parse(statusJson.stdout)
    expect(shape.store).toBe('file')
    expect(Object.keys(shape.logins[0]).sort()).toEqual(
      [
        'accessToken',
        'account',
        'clientId',
        'issuer',
        'name',
        'providerIds',
        'refreshToken',
        'scope',
        'subject',
        'updatedAt',
        'usable',
        'dpop',
      ].sort(),
    )
    expect(statusJson.stdout).not.toContain(second.stdout.trim()) // no token in status

    const logout = await keyfob(home, ['logout'])
    expect(logout.code).toBe(0)
    expect(logout.stderr).toContain('revoked')
    const revocations = await journal((e) => e.endpoint === 'revocation')
    expect(revocations.map((e) => e.params.token_type_hint)).toEqual(['refresh_token', 'access_token'])
    const tokensFile = JSON.parse(readFileSync(join(home, 'data', 'tokens.json'), 'utf8'))
    expect(tokensFile.tokens).toEqual([])
    const after = await keyfob(home, ['token'])
    expect(after.code).toBe(3)
    expect(after.stderr).toContain('keyfob login')
  }, 60_000)

  it('client credentials, with the secret from the environment', async () => {
    const home = newHome()
    await keyfob(home, ['add-oidc', server.issuer, '--provider-id', 'mock', '--client-id', 'svc'], {
      KEYFOB_CLIENT_SECRET: 'svc-secret',
    })
    const login = await keyfob(home, ['login', '--client-credentials'], {
      KEYFOB_CLIENT_SECRET: 'svc-secret',
    })
    expect(login.code).toBe(0)
    // The 8-second token is inside the default 60 s margin: renewing a client login is running
    // the grant again (there is no refresh token).
    expect((await keyfob(home, ['token'])).stdout).toMatch(/^eyJ/)
    expect(await journal((e) => e.grantType === 'client_credentials').then((t) => t.length)).toBe(2)
    const dump = await keyfob(home, ['config-dump'])
    expect(dump.stdout).not.toContain('svc-secret')
    expect(dump.stdout).toContain('<redacted:sha256:')
  })

  it('two accounts at one provider (password and browser logins), the default account, paths, add-basic', async () => {
    const home = newHome()
    await keyfob(home, ['add-oidc', server.issuer, '--provider-id', 'mock', '--client-id', 'cli'])
    const work = await keyfob(
      home,
      ['login', '--password', '--client-id', 'pw', '--username', 'alice', '--account', 'work'],
      { KEYFOB_PASSWORD: 'alice', KEYFOB_CLIENT_SECRET: 'pw-secret' },
    )
    expect(work.code).toBe(0)

    // A browser login without a browser: the URL is printed; "the browser" is a fetch of it.
    const child = spawnKeyfob(['login', '--browser', '--no-browser'], {
      env: envOf(home),
    })
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    let url: string | undefined
    for (let i = 0; i < 200 && !url; i++) {
      url = /(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)/.exec(stderr)?.[1]
      if (!url) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(url).toBeDefined()
    const authorize = await fetch(url as string, { redirect: 'manual' })
    const callback = authorize.headers.get('location') ?? ''
    expect(callback).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/)
    expect((await fetch(callback)).status).toBe(200)
    expect(await exited).toBe(0)

    const listed = JSON.parse((await keyfob(home, ['accounts', '--json'])).stdout)
    expect(listed.accounts).toEqual([
      { name: 'default', logins: 1, default: true },
      { name: 'work', logins: 1, default: false },
    ])
    // Tokens live 8 s here: compare whose they are, not the strings (a refresh may come between).
    // The pw client's secret is not in the config: its renewals read it from the environment.
    const secret = { KEYFOB_CLIENT_SECRET: 'pw-secret' }
    const clientOf = async (args: string[], env: Record<string, string> = {}) => {
      const token = (await keyfob(home, ['token', ...args], env)).stdout
      return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).client_id
    }
    expect(await clientOf([])).toBe('cli')
    expect(await clientOf(['--account', 'work'], secret)).toBe('pw')
    expect((await keyfob(home, ['accounts', 'use', 'work'])).code).toBe(0)
    expect(await clientOf([], secret)).toBe('pw')

    const paths = JSON.parse((await keyfob(home, ['paths', '--json'])).stdout)
    expect(paths).toMatchObject({
      configFile: join(home, 'config', 'config.json'),
      tokensFile: join(home, 'data', 'tokens.json'),
      store: 'file',
    })
    const basic = await keyfob(
      home,
      ['add-basic', 'api.example/v1/', '--username', 'bob', '--no-try', '--json'],
      {
        KEYFOB_PASSWORD: 'hunter2',
      },
    )
    expect(JSON.parse(basic.stdout)).toEqual({ api: 'https://api.example/v1', username: 'bob' })
    const dump = (await keyfob(home, ['config-dump'])).stdout
    expect(dump).toContain('"username": "bob"')
    expect(dump).not.toContain('hunter2')

    // token-clear forgets without revoking; logout --all revokes what is left.
    const revocations = () => journal((e) => e.endpoint === 'revocation').then((r) => r.length)
    const revokedBefore = await revocations()
    const cleared = await keyfob(home, ['token-clear', '--account', 'work', '--json'])
    expect(JSON.parse(cleared.stdout)).toEqual({ removed: 1 })
    expect(await revocations()).toBe(revokedBefore)
    const out = JSON.parse((await keyfob(home, ['logout', '--all', '--json'])).stdout)
    expect(out.logouts.map((l: { clientId: string; revoked: boolean }) => [l.clientId, l.revoked])).toEqual([
      ['cli', true],
    ])
    expect(await revocations()).toBeGreaterThan(revokedBefore)
    expect((await keyfob(home, ['status'])).code).toBe(3)
    // About 15 spawns: 18-25 s on a 2-core runner, over the 30 s default on a loaded one.
  }, 60_000)

  it('a secret kept out of the config renews from the environment', async () => {
    const home = newHome()
    await keyfob(home, ['add-oidc', server.issuer, '--provider-id', 'mock', '--client-id', 'svc'])
    const env = { KEYFOB_CLIENT_SECRET: 'svc-secret' }
    expect((await keyfob(home, ['login', '--client-credentials'], env)).code).toBe(0)
    expect(readFileSync(join(home, 'config', 'config.json'), 'utf8')).not.toContain('svc-secret')
    // The 8-second token is inside the 60 s margin: renewal needs the secret again.
    const without = await keyfob(home, ['token'])
    expect(without.code).toBe(3)
    const renewed = await keyfob(home, ['token'], env)
    expect(renewed.code).toBe(0)
    expect(renewed.stdout).toMatch(/^eyJ/)
  })

  it('imports openEO files', async () => {
    const home = newHome()
    const openeo = join(home, 'openeo')
    mkdirSync(openeo)
    writeFileSync(
      join(openeo, 'auth-config.json'),
      JSON.stringify({
        backends: {
          'https://openeo.example': {
            oidc: { providers: { egi: { client_id: 'c1', issuer: server.issuer } } },
          },
        },
      }),
      { mode: 0o600 },
    )
    writeFileSync(
      join(openeo, 'refresh-tokens.json'),
      JSON.stringify({
        [server.issuer]: { c1: { date: '2026-01-01T00:00:00Z', refresh_token: 'rt-imported' } },
      }),
      {
        mode: 0o600,
      },
    )
    const imported = await keyfob(home, ['import', 'openeo', '--from', openeo, '--json'])
    expect(imported.code).toBe(0)
    expect(JSON.parse(imported.stdout)).toMatchObject({
      providers: ['egi'],
      apis: ['https://openeo.example'],
      tokens: 1,
      skipped: [],
    })
    const tokens = JSON.parse((await keyfob(home, ['token-dump'])).stdout)
    expect(tokens.tokens[0]).toMatchObject({ issuer: server.issuer, clientId: 'c1' })
    expect(JSON.stringify(tokens)).not.toContain('rt-imported')

    // Importing the same files again changes nothing and reports nothing.
    const again = JSON.parse((await keyfob(home, ['import', 'openeo', '--from', openeo, '--json'])).stdout)
    expect(again.tokens).toBe(0)
    expect(again.skipped).toEqual([])
    // A newer openEO token: keyfob keeps its own and says so, unless told to replace it.
    writeFileSync(
      join(openeo, 'refresh-tokens.json'),
      JSON.stringify({
        [server.issuer]: { c1: { date: '2026-02-01T00:00:00Z', refresh_token: 'rt-newer' } },
      }),
      { mode: 0o600 },
    )
    const kept = JSON.parse((await keyfob(home, ['import', 'openeo', '--from', openeo, '--json'])).stdout)
    expect(kept.tokens).toBe(0)
    expect(kept.skipped[0]).toContain('keyfob already has another one')
    const replaced = await keyfob(home, ['import', 'openeo', '--from', openeo, '--overwrite', '--json'])
    expect(JSON.parse(replaced.stdout).tokens).toBe(1)
  })
})

describe('keyfob errors', () => {
  it('a usage error names the closest command or flag, exit 2', async () => {
    const home = newHome()
    const command = await keyfob(home, ['stauts'])
    expect(command.code).toBe(2)
    expect(command.stderr).toContain('did you mean `keyfob status`?')
    const flag = await keyfob(home, ['token', '--min-tll', '5m'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toContain('did you mean --min-ttl?')
    const duration = await keyfob(home, ['token', '--min-ttl', 'soon'])
    expect(duration.code).toBe(2)
    expect(duration.stderr).toContain('not a duration')
  })

  it('without a terminal it never prompts: it names the flag to pass', async () => {
    const home = newHome()
    const add = await keyfob(home, ['add-oidc', server.issuer])
    expect(add.code).toBe(2)
    expect(add.stderr).toContain('--client-id')
    const basic = await keyfob(home, ['add-basic', 'https://api.example', '--username', 'a'])
    expect(basic.code).toBe(2)
    expect(basic.stderr).toContain('$KEYFOB_PASSWORD')
  })

  it('one line per failure, a typed exit code, no stack trace', async () => {
    const home = newHome()
    const unreachable = await keyfob(home, ['add-oidc', 'http://127.0.0.1:9', '--client-id', 'x'])
    expect(unreachable.code).toBe(5)
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1)
    expect(unreachable.stderr).not.toMatch(/\n\s+at /)

    await keyfob(home, ['add-oidc', server.issuer, '--provider-id', 'mock', '--client-id', 'cli'])
    mkdirSync(join(home, 'data'), { recursive: true })
    writeFileSync(join(home, 'data', 'tokens.json'), JSON.stringify({ version: 1, tokens: [] }), {
      mode: 0o644,
    })
    chmodSync(join(home, 'data', 'tokens.json'), 0o644)
    const insecure = await keyfob(home, ['status'])
    expect(insecure.code).toBe(4)
    expect(insecure.stderr).toContain(`chmod 600 '${join(home, 'data', 'tokens.json')}'`)
    chmodSync(join(home, 'data', 'tokens.json'), 0o600)

    // A refresh token the provider no longer accepts: log in again, exit 3.
    writeFileSync(
      join(home, 'data', 'tokens.json'),
      JSON.stringify({
        version: 1,
        tokens: [
          { issuer: server.issuer, clientId: 'cli', record: { refreshToken: 'revoked', updatedAt: 1 } },
        ],
      }),
      { mode: 0o600 },
    )
    const expired = await keyfob(home, ['token'])
    expect(expired.code).toBe(3)
    expect(expired.stderr).toContain('log in again')
    const debug = await keyfob(home, ['token', '--debug'])
    expect(debug.stderr).toMatch(/\n\s+at /) // the stack, only when asked
  })

  it('Ctrl-C during a device login exits 130 and writes nothing', async () => {
    const home = newHome()
    await keyfob(home, ['add-oidc', server.issuer, '--provider-id', 'mock', '--client-id', 'cli'])
    const child: ChildProcess = spawnKeyfob(['login', '--no-qr'], {
      env: envOf(home),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr?.on('data', (d) => {
      stderr += d
    })
    for (let i = 0; i < 200 && !stderr.includes('enter the code'); i++)
      await new Promise((resolve) => setTimeout(resolve, 50))
    child.kill('SIGINT')
    const code = await new Promise((resolve) => child.once('exit', resolve))
    expect(code).toBe(130)
    expect(stderr).toContain('cancelled')
    expect(existsSync(join(home, 'data', 'tokens.json'))).toBe(false)
  })
})

const tmux = spawnSync('sh', ['-c', 'command -v tmux']).status === 0
if (!tmux && process.env.CI === 'true')
  throw new Error(
    'the terminal test is required under CI=true but tmux is missing (scripts/ci-system-deps.sh installs it)',
  )
if (!tmux) console.warn('skipping the terminal test: tmux is not installed')

describe.skipIf(!tmux)('keyfob in a real terminal', () => {
  it('add-oidc asks for the client id and secret, hiding the secret', async () => {
    const home = newHome()
    const session = `keyfob-${process.pid}`
    const screen = () => spawnSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' }).stdout
    const until = async (text: string) => {
      for (let i = 0; i < 200; i++) {
        if (screen().includes(text)) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error(`the terminal never showed ${JSON.stringify(text)}; it shows:\n${screen()}`)
    }
    const command = `KEYFOB_CONFIG_DIR=${join(home, 'config')} KEYFOB_DATA_DIR=${join(home, 'data')} ${commandLine} add-oidc ${server.issuer} --provider-id tty; echo "exit=$?"; sleep 30`
    expect(
      spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '30', command]).status,
    ).toBe(0)
    try {
      await until('Client id:') // capture-pane trims trailing blanks
      spawnSync('tmux', ['send-keys', '-t', session, 'cli', 'Enter'])
      await until('Client secret')
      spawnSync('tmux', ['send-keys', '-t', session, 'hunter2', 'Enter'])
      await until('exit=')
      const shown = screen()
      expect(shown).toContain('Added provider tty')
      expect(shown).toContain('exit=0')
      expect(shown).not.toContain('hunter2') // typed, never echoed
      const config = JSON.parse(readFileSync(join(home, 'config', 'config.json'), 'utf8'))
      expect(config.providers.tty.client).toEqual({ clientId: 'cli', clientSecret: 'hunter2' })
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session])
    }
  }, 30_000)
})
