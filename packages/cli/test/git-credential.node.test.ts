/**
 * `keyfob setup-git` and `keyfob git-credential` with a real `git`: `git ls-remote` against a
 * loopback smart-HTTP server that answers 401 + `WWW-Authenticate: Basic` unless the password is
 * an access token the mock IdP's userinfo endpoint accepts. git's global configuration is a file
 * of the test's own (`GIT_CONFIG_GLOBAL`), system configuration and prompts are off.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bin, exec } from './spawn.ts'

/** The environment of one test: its own keyfob directories and git configuration, nothing else. */
function envOf(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    KEYFOB_CONFIG_DIR: join(home, 'config'),
    KEYFOB_DATA_DIR: join(home, 'data'),
    GIT_CONFIG_GLOBAL: join(home, 'gitconfig'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    NO_COLOR: '1',
  }
}

const keyfob = (home: string, args: string[], input?: string) =>
  exec(process.execPath, [bin, ...args], envOf(home), input)
const git = (home: string, args: string[]) => exec('git', args, envOf(home))

let idp: MockIdpServer
let gitServer: Server
let remote: string
/** What the git server was sent: the user name and password of each authorized request. */
const authorized: Array<{ username: string; password: string }> = []

const SHA = 'a'.repeat(40)
/** A git pkt-line: four hex digits of length (themselves included), then the payload. */
const pkt = (payload: string) => `${(payload.length + 4).toString(16).padStart(4, '0')}${payload}`

beforeAll(async () => {
  idp = await serve({
    port: 0,
    // Shorter than `keyfob token`'s default 60 s margin: every `get` refreshes, through the token path.
    lifetimes: { accessTokenS: 30 },
    users: [{ sub: 'alice', password: 'alice' }],
    clients: [{ clientId: 'pw', clientSecret: 'pw-secret', grantTypes: ['password', 'refresh_token'] }],
  })
  gitServer = createServer(async (req, res) => {
    if (!req.url?.startsWith('/repo.git/info/refs')) {
      res.writeHead(404).end()
      return
    }
    const basic = /^Basic (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
    const [username = '', password = ''] = basic
      ? Buffer.from(basic, 'base64').toString('utf8').split(/:(.*)/s)
      : []
    const valid =
      password !== '' &&
      (await fetch(`${idp.issuer}/userinfo`, { headers: { authorization: `Bearer ${password}` } })).status ===
        200
    if (!valid) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'text/plain' })
      res.end('authentication required\n')
      return
    }
    authorized.push({ username, password })
    res.writeHead(200, {
      'content-type': 'application/x-git-upload-pack-advertisement',
      'cache-control': 'no-cache',
    })
    res.end(
      `${pkt('# service=git-upload-pack\n')}0000${pkt(`${SHA} HEAD\0symref=HEAD:refs/heads/main\n`)}${pkt(`${SHA} refs/heads/main\n`)}0000`,
    )
  })
  await new Promise<void>((resolve) => gitServer.listen(0, '127.0.0.1', resolve))
  const address = gitServer.address()
  if (address === null || typeof address === 'string') throw new Error('the git server has no port')
  remote = `127.0.0.1:${address.port}`
})

afterAll(async () => {
  await new Promise((resolve) => gitServer?.close(resolve))
  await idp?.close()
})

const refreshes = async () =>
  (
    (await (await fetch(`${idp.issuer}/_control/journal`)).json()) as Array<{
      grantType?: string
      status: number
    }>
  )
    .filter((e) => e.grantType === 'refresh_token')
    .map((e) => e.status)

/** A home with the mock provider configured and alice logged in with the password grant. */
async function loggedIn(): Promise<string> {
  const home = mkdtempSync(join(tmpdir(), 'keyfob-git-'))
  const added = await keyfob(home, [
    'add-oidc',
    idp.issuer,
    '--provider-id',
    'mock',
    '--client-id',
    'pw',
    '--client-secret',
    'pw-secret',
  ])
  expect(added.code).toBe(0)
  const login = await exec(process.execPath, [bin, 'login', '--password', '--username', 'alice'], {
    ...envOf(home),
    KEYFOB_PASSWORD: 'alice',
  })
  // The stderr rides along so that a failed login shows its reason.
  expect({ code: login.code, stderr: login.code === 0 ? '' : login.stderr }).toEqual({ code: 0, stderr: '' })
  return home
}

describe('keyfob as git’s credential helper', () => {
  it('setup-git, then git ls-remote authenticates with a refreshed token; inherited helpers are cut off', async () => {
    const home = await loggedIn()
    // A helper inherited from the global configuration that would answer with a wrong password.
    writeFileSync(
      join(home, 'gitconfig'),
      '[credential]\n\thelper = "!f() { echo username=mallory; echo password=wrong; }; f"\n',
    )
    const url = `http://${remote}/repo.git`

    const before = await git(home, ['ls-remote', url])
    expect(before.code).not.toBe(0)
    expect(authorized).toHaveLength(0)

    const setup = await keyfob(home, ['setup-git', '--host', `http://${remote}`, '--json'])
    expect(setup.stderr).toBe('')
    expect(setup.code).toBe(0)
    const written = JSON.parse(setup.stdout)
    expect(written).toMatchObject({
      url: `http://${remote}`,
      key: `credential.http://${remote}.helper`,
      providerId: 'mock',
      account: null,
    })
    const entries = await git(home, ['config', '--global', '--get-all', `credential.http://${remote}.helper`])
    expect(entries.stdout.split('\n').slice(0, -1)).toEqual(['', written.helper])
    expect(written.helper).toContain('git-credential --host')

    const refreshed = (await refreshes()).length
    const listed = await git(home, ['ls-remote', url])
    // (A note from keyfob, e.g. that the provider's tokens are shorter than the margin, may show.)
    expect(listed.stderr).not.toMatch(/error|fatal/i)
    expect(listed.code).toBe(0)
    expect(listed.stdout).toContain(`${SHA}\trefs/heads/main`)
    expect(authorized.map((a) => a.username)).toEqual(['oauth2'])
    // The 30-second token was inside the 60-second margin: `get` refreshed it as `keyfob token` does,
    // stored it, and handed git the new one.
    expect((await refreshes()).slice(refreshed)).toEqual([200])
    const stored = await keyfob(home, ['token', '--min-ttl', '1s'])
    expect(stored.code).toBe(0)
    expect(authorized[0]?.password).toBe(stored.stdout.trim())

    // Running setup-git again replaces the entries; it does not stack them.
    expect((await keyfob(home, ['setup-git', '--host', `http://${remote}`])).code).toBe(0)
    const again = await git(home, ['config', '--global', '--get-all', `credential.http://${remote}.helper`])
    expect(again.stdout.split('\n').slice(0, -1)).toHaveLength(2)

    // Logged out locally: git gets no password, and shows keyfob's reason.
    expect((await keyfob(home, ['token-clear'])).code).toBe(0)
    const after = await git(home, ['ls-remote', url])
    expect(after.code).not.toBe(0)
    expect(after.stderr).toContain('keyfob login')
    expect(authorized).toHaveLength(1)
  }, 60_000)

  it('answers get for its host only; store, erase and unknown operations do nothing', async () => {
    const home = await loggedIn()
    const helper = ['git-credential', '--host', `http://${remote}`, '--min-ttl', '1s']
    const get = await keyfob(home, [...helper, 'get'], `protocol=http\nhost=${remote}\n\n`)
    expect(get.code).toBe(0)
    const answer = Object.fromEntries(
      get.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    )
    const token = (await keyfob(home, ['token', '--min-ttl', '1s'])).stdout.trim()
    expect(answer).toEqual({
      protocol: 'http',
      host: remote,
      username: 'oauth2',
      password: token,
      password_expiry_utc: expect.stringMatching(/^\d+$/),
    })

    // git's `url=` form, and a user name git already knows: answered only when it is ours.
    const byUrl = await keyfob(home, [...helper, 'get'], `url=http://oauth2@${remote}/repo.git\n`)
    expect(byUrl.stdout).toContain(`password=${token}\n`)
    const requests = [
      `protocol=http\nhost=other.example\n`,
      `protocol=https\nhost=${remote}\n`,
      `protocol=http\nhost=${remote}\nusername=mallory\n`,
    ]
    for (const request of requests) {
      const none = await keyfob(home, [...helper, 'get'], request)
      expect({ request, ...none }).toEqual({ request, code: 0, stdout: '', stderr: '' })
    }
    for (const operation of ['store', 'erase', 'future-operation']) {
      const none = await keyfob(
        home,
        [...helper, operation],
        `protocol=http\nhost=${remote}\nusername=oauth2\npassword=${token}\n`,
      )
      expect({ operation, ...none }).toEqual({ operation, code: 0, stdout: '', stderr: '' })
    }
    // erase left the login alone.
    expect((await keyfob(home, ['token', '--min-ttl', '1s'])).stdout.trim()).toBe(token)
  }, 60_000)

  it('refuses what would go wrong: no --host, plain http to another machine, an unknown provider', async () => {
    const home = await loggedIn()
    const cases: Array<[string[], number, string]> = [
      [['setup-git'], 2, '--host is required'],
      [['setup-git', '--host', 'http://git.example.org'], 2, 'unencrypted'],
      [['setup-git', '--host', 'git.example.org/some/repo'], 2, 'without a path'],
      [['setup-git', '--host', 'git.example.org', '--provider-id', 'nope'], 1, 'choose one of: mock'],
      [['git-credential', 'get'], 2, '--host is required'],
      [['git-credential', '--host', 'git.example.org'], 2, 'operation is missing'],
    ]
    for (const [args, code, message] of cases) {
      const result = await keyfob(home, args)
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code, stdout: '' })
      expect(result.stderr).toContain(message)
    }
    const config = await git(home, ['config', '--global', '--list'])
    expect(config.stdout).toBe('')
  }, 60_000)
})
