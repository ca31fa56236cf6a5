/**
 * The spawned `keyfob` never does the wrong thing quietly: stray words are usage errors, logout
 * says exactly what it revoked, unknown accounts are refused, `KEYFOB_TOKEN` wins, a QR code stays
 * out of logs. Real loopback HTTP against the mock IdP.
 */
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bin, envOf, keyfob, newHome } from './spawn.ts'

let server: MockIdpServer

beforeAll(async () => {
  server = await serve({
    port: 0,
    deviceIntervalS: 1,
    lifetimes: { accessTokenS: 600 },
    users: [{ sub: 'alice', password: 'alice' }],
    clients: [
      { clientId: 'pw', clientSecret: 'pw-secret', grantTypes: ['password', 'refresh_token'] },
      {
        clientId: 'cli',
        grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      },
      { clientId: 'web', grantTypes: ['authorization_code'], redirectUris: ['http://127.0.0.1/callback'] },
      { clientId: 'other', grantTypes: ['authorization_code'], redirectUris: ['http://127.0.0.1/other'] },
    ],
  })
})

afterAll(async () => {
  await server.close()
})

/** A home with the mock IdP configured as `mock`, its client (default `pw`) without a stored secret. */
async function home(options: { loggedIn?: boolean; clientId?: string } = {}): Promise<string> {
  const dir = newHome('keyfob-habits-')
  expect(
    (
      await keyfob(dir, [
        'add-oidc',
        server.issuer,
        '--provider-id',
        'mock',
        '--client-id',
        options.clientId ?? 'pw',
        '--no-client-secret',
      ])
    ).code,
  ).toBe(0)
  if (options.loggedIn) {
    const login = await keyfob(dir, ['login', '--password', '--username', 'alice'], {
      KEYFOB_PASSWORD: 'alice',
      KEYFOB_CLIENT_SECRET: 'pw-secret',
    })
    expect(login.code).toBe(0)
  }
  return dir
}

const revocations = () =>
  server.idp.control.journal
    .entries({ endpoint: 'revocation' })
    .map((e) => [e.params.token_type_hint, e.status])

describe('stray words are usage errors', () => {
  it('names the word, exits 2, and touches nothing', async () => {
    const dir = await home({ loggedIn: true })
    const before = revocations().length
    const logout = await keyfob(dir, ['logout', 'egi', '--json'])
    expect(logout.code).toBe(2)
    expect(logout.stderr).toContain(
      'unexpected argument "egi": keyfob logout takes no arguments; to choose a provider, pass --provider-id egi',
    )
    expect(revocations().length).toBe(before)
    const token = await keyfob(dir, ['token', 'https://aai.egi.eu/auth/realms/egi'])
    expect([token.code, token.stdout]).toEqual([2, ''])
    const ttl = await keyfob(dir, ['token', '--min-ttl', '5', 'minutes'])
    expect(ttl.code).toBe(2)
    expect(ttl.stderr).toContain('did you mean --min-ttl "5 minutes"?')
    for (const args of [
      ['status', 'x'],
      ['paths', 'x'],
      ['token-clear', 'x'],
      ['config-dump', 'x'],
      ['token-dump', 'x'],
    ]) {
      const result = await keyfob(dir, args)
      expect([args[0], result.code]).toEqual([args[0], 2])
      expect(result.stderr).toContain('unexpected argument "x"')
    }
    expect((await keyfob(dir, ['status'])).code).toBe(0) // still logged in
  }, 90_000)
})

describe('logout says what happened to each token', () => {
  it('with nothing stored: nothing revoked, nothing claimed', async () => {
    const dir = await home()
    const result = await keyfob(dir, ['logout', '--json'])
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout).logouts).toEqual([
      { issuer: server.issuer, clientId: 'pw', account: null, revoked: false, removed: false, tokens: [] },
    ])
    expect((await keyfob(dir, ['logout'])).stderr).toContain('Nothing stored for')
  }, 60_000)

  it('a confidential client revokes with the secret from $KEYFOB_CLIENT_SECRET', async () => {
    const dir = await home({ loggedIn: true })
    server.idp.control.journal.clear()
    const result = await keyfob(dir, ['logout', '--json'], { KEYFOB_CLIENT_SECRET: 'pw-secret' })
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout).logouts[0]).toMatchObject({ revoked: true, removed: true })
    expect(revocations()).toEqual([
      ['refresh_token', 200],
      ['access_token', 200],
    ])
  }, 60_000)

  it('a refusal exits 1 with the provider’s answer; the tokens are still removed, and it says so', async () => {
    const dir = await home({ loggedIn: true })
    const result = await keyfob(dir, ['logout'])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('refresh token refused by the provider')
    expect(result.stderr).toContain('invalid_client')
    expect(result.stderr).toContain('Removed the tokens locally.')
    expect((await keyfob(dir, ['status'])).code).toBe(3)
  }, 60_000)

  it('an unreachable provider exits 5', async () => {
    const dir = await home({ loggedIn: true })
    server.idp.control.faults.inject({ endpoint: 'revocation', status: 503, times: 10 })
    try {
      const result = await keyfob(dir, ['logout', '--json'], { KEYFOB_CLIENT_SECRET: 'pw-secret' })
      expect(result.code).toBe(5)
      const [out] = JSON.parse(result.stdout).logouts
      expect(out.revoked).toBe(false)
      expect(out.removed).toBe(true)
      expect(out.tokens.map((t: { outcome: string }) => t.outcome)).toEqual(['unreachable', 'unreachable'])
    } finally {
      server.idp.control.faults.clear()
    }
  }, 60_000)
})

describe('accounts and tokens', () => {
  it('accounts use refuses an unknown name and lists the known ones', async () => {
    const dir = await home({ loggedIn: true })
    const result = await keyfob(dir, ['accounts', 'use', 'wrok'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('no account "wrok"; known accounts: default')
    expect((await keyfob(dir, ['accounts', 'use', 'default'])).code).toBe(0)
  }, 60_000)

  it('KEYFOB_TOKEN is the answer, and nothing else is consulted', async () => {
    const empty = newHome('keyfob-habits-')
    const result = await keyfob(empty, ['token'], { KEYFOB_TOKEN: 'ci-token' })
    expect([result.code, result.stdout, result.stderr]).toEqual([0, 'ci-token\n', ''])
  })

  it('says once when the provider’s tokens are shorter than --min-ttl', async () => {
    const dir = await home({ loggedIn: true })
    const result = await keyfob(dir, ['token', '--min-ttl', '2h'], { KEYFOB_CLIENT_SECRET: 'pw-secret' })
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("note: the provider's access tokens last 10 min, less than --min-ttl 2h")
    expect(result.stderr.match(/note:/g)).toHaveLength(1)
  }, 60_000)
})

describe('status --check', () => {
  it('asks the provider: accepted, then refused after a revocation elsewhere', async () => {
    const dir = await home({ loggedIn: true })
    const env = { KEYFOB_CLIENT_SECRET: 'pw-secret' }
    const ok = await keyfob(dir, ['status', '--check', '--json'], env)
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout).logins[0].check).toEqual({ active: true, via: 'userinfo', error: null })
    const token = (await keyfob(dir, ['token'], env)).stdout.trim()
    const revoked = await fetch(`${server.issuer}/revoke`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${btoa('pw:pw-secret')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    })
    expect(revoked.status).toBe(200)
    const refused = await keyfob(dir, ['status', '--check'], env)
    expect(refused.code).toBe(3)
    expect(refused.stdout).toContain('the provider no longer accepts the token (userinfo)')
  }, 60_000)
})

describe('login --with-token', () => {
  const piped = (dir: string, args: string[], input: string) => keyfob(dir, args, {}, input)

  it('stores a token read from stdin, with the expiry of its exp claim, for token to print', async () => {
    const dir = await home()
    const exp = Math.floor(Date.now() / 1000) + 3600
    const token = `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify({ sub: 'ci', exp })).toString('base64url')}.x`
    const stored = await piped(dir, ['login', '--with-token', '--json'], `${token}\n`)
    expect(stored.code).toBe(0)
    expect(JSON.parse(stored.stdout)).toMatchObject({
      clientId: 'pw',
      subject: null,
      accessToken: { present: true, valid: true, expiresAt: new Date(exp * 1000).toISOString() },
      refreshToken: { present: false },
    })
    expect((await keyfob(dir, ['token'])).stdout).toBe(`${token}\n`)
    const empty = await piped(dir, ['login', '--with-token'], '\n')
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain('--with-token reads one token from stdin')
    expect((await piped(dir, ['login', '--with-token', '--browser'], token)).code).toBe(2)
  }, 60_000)
})

describe('browser login', () => {
  it('--port pins the loopback redirect port', async () => {
    const dir = await home()
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [bin, 'login', '--browser', '--no-browser', '--client-id', 'web', '--port', String(port)],
      { env: envOf(dir) },
    )
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
    expect(new URL(url as string).searchParams.get('redirect_uri')).toBe(`http://127.0.0.1:${port}/callback`)
    const callback = (await fetch(url as string, { redirect: 'manual' })).headers.get('location') ?? ''
    expect((await fetch(callback)).status).toBe(200)
    expect(await exited).toBe(0)
    expect((await keyfob(dir, ['login', '--port', '80'])).stderr).toContain('--port is for the browser login')
  }, 60_000)

  it('a provider that refuses the redirect URI fails the login at once, not after the timeout', async () => {
    const dir = await home()
    const result = await keyfob(dir, [
      'login',
      '--browser',
      '--no-browser',
      '--client-id',
      'other',
      '--timeout',
      '50s',
    ])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('[ERR_AUTHORIZATION_REFUSED]')
    expect(result.stderr).toContain('check that this redirect URI is registered for client other')
  }, 60_000)
})

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('device login in a log', () => {
  it('writes no QR code when stderr is not a terminal', async () => {
    const dir = await home({ clientId: 'cli' })
    const pending = keyfob(dir, ['login', '--timeout', '20s'])
    let userCode: string | undefined
    for (let i = 0; i < 200 && userCode === undefined; i++) {
      userCode = server.idp.control.devices.list().find((d) => d.status === 'pending')?.userCode
      if (userCode === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(userCode).toBeDefined()
    server.idp.control.devices.approve(userCode as string, 'alice')
    const result = await pending
    expect(result.code).toBe(0)
    expect(result.stderr).toContain(userCode as string)
    expect(result.stderr).not.toMatch(/[█▀▄]/)
    expect(result.stderr).not.toContain('or scan')
  }, 60_000)
})

const tmux = spawnSync('sh', ['-c', 'command -v tmux']).status === 0
if (!tmux && process.env.CI === 'true')
  throw new Error(
    'the terminal test is required under CI=true but tmux is missing (scripts/ci-system-deps.sh installs it)',
  )

describe.skipIf(!tmux)('a denied device login in a real terminal', () => {
  it('clears the spinner line before the error, and shows a QR code on a terminal', async () => {
    const dir = await home({ clientId: 'cli' })
    const session = `keyfob-deny-${process.pid}`
    const screen = () => spawnSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' }).stdout
    const until = async (text: string) => {
      for (let i = 0; i < 300; i++) {
        if (screen().includes(text)) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error(`the terminal never showed ${JSON.stringify(text)}; it shows:\n${screen()}`)
    }
    // Colors on (a terminal, no NO_COLOR): the spinner is drawn.
    const command = `env -u NO_COLOR TERM=xterm-256color KEYFOB_CONFIG_DIR=${join(dir, 'config')} KEYFOB_DATA_DIR=${join(dir, 'data')} ${process.execPath} ${bin} login; echo "exit=$?"; sleep 30`
    expect(
      spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '150', '-y', '60', command]).status,
    ).toBe(0)
    try {
      await until('waiting for approval')
      const pending = server.idp.control.devices.list({ status: 'pending' })
      const userCode = pending.at(-1)?.userCode as string
      expect(screen()).toMatch(/[█▀▄]/) // the QR code, for the person at the terminal
      server.idp.control.devices.deny(userCode)
      await until('exit=')
      const lines = screen().split('\n')
      const error = lines.find((l) => l.includes('[ERR_ACCESS_DENIED]')) ?? ''
      expect(error.startsWith('error:')).toBe(true)
      expect(screen()).not.toContain('waiting for approval')
      expect(screen()).toContain('exit=1')
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session])
    }
  }, 60_000)
})

describe('errors that name the real cause', () => {
  /** A provider that lies about its issuer, has no metadata under /missing, and answers the token and revocation endpoints with an empty 401. */
  async function oddProvider(): Promise<{ origin: string; close: () => Promise<void> }> {
    const { createServer } = await import('node:http')
    let origin = ''
    const server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', origin).pathname
      if (path === '/.well-known/openid-configuration') {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ issuer: 'https://other.example', token_endpoint: `${origin}/token` }))
      } else if (path === '/ok/.well-known/openid-configuration') {
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(
          JSON.stringify({
            issuer: `${origin}/ok`,
            token_endpoint: `${origin}/token`,
            revocation_endpoint: `${origin}/revoke`,
          }),
        )
      } else if (path === '/token' || path === '/revoke') {
        response.writeHead(401)
        response.end()
      } else {
        response.writeHead(404, { 'content-type': 'text/html' })
        response.end('<h1>Not Found</h1>')
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    return { origin, close: () => new Promise((resolve) => server.close(() => resolve())) }
  }

  it('a refused connection, an issuer mismatch, a 404 and an empty 401 each say what happened', async () => {
    const dir = newHome('keyfob-habits-')
    const closed = await freePort()
    const refused = await keyfob(dir, [
      'add-oidc',
      `http://127.0.0.1:${closed}`,
      '--provider-id',
      'x',
      '--client-id',
      'c',
    ])
    expect(refused.code).toBe(5)
    expect(refused.stderr).toContain(`ECONNREFUSED 127.0.0.1:${closed}`)
    const odd = await oddProvider()
    try {
      const lying = await keyfob(dir, ['add-oidc', odd.origin, '--provider-id', 'x', '--client-id', 'c'])
      expect(lying.stderr).toContain('"https://other.example"')
      expect(lying.stderr).toContain(`but "${odd.origin}/" was asked for`)
      const missing = await keyfob(dir, [
        'add-oidc',
        `${odd.origin}/missing`,
        '--provider-id',
        'x',
        '--client-id',
        'c',
      ])
      expect(missing.stderr).toContain('answered 404')
      // A stored login at a provider whose token and revocation endpoints answer an empty 401.
      expect(
        (
          await keyfob(dir, [
            'add-oidc',
            `${odd.origin}/ok`,
            '--provider-id',
            'ok',
            '--client-id',
            'c',
            '--no-client-secret',
          ])
        ).code,
      ).toBe(0)
      const { fileTokenStore } = await import('@keyfob/store')
      await fileTokenStore({ dir: join(dir, 'data') }).set(
        { issuer: `${odd.origin}/ok`, clientId: 'c' },
        { accessToken: 'old', expiresAt: 1, refreshToken: 'rt', updatedAt: 1 },
      )
      const token = await keyfob(dir, ['token', '--provider-id', 'ok'])
      expect(token.stderr).toContain('answered 401 with an empty body, not an OAuth error response')
      expect(token.stderr).not.toContain('content-type must be application/json')
      const logout = await keyfob(dir, ['logout', '--provider-id', 'ok'])
      expect(logout.code).toBe(1)
      expect(logout.stderr).toContain('answered 401 with an empty body')
    } finally {
      await odd.close()
    }
  }, 90_000)
})
