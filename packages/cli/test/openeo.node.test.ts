/**
 * An openEO user switching to keyfob: the built `keyfob` binary, spawned as a user would run it,
 * against the mock IdP and a small openEO-like back-end (`openeo-backend.ts`) over loopback HTTP.
 * openeo-auth's commands and flags, import from every layout openEO writes (fixtures built as
 * `openeo/rest/auth/config.py` writes the files), `token --openeo` accepted by the back-end's `/me`,
 * and a hostile back-end refused. One test confirms `token-clear` in a real terminal (tmux).
 */
import { execFile, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authConfigJson, refreshTokensJson, writeOpenEoFile } from '../../store/test/fixtures/openeo.ts'
import { type OpenEoBackend, openEoBackend } from './openeo-backend.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'keyfob.mjs')
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'
const APP = 'openeo-python-client'

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** A user's home: keyfob's own dirs under it, openEO's defaults (XDG) under it, `HOME` pointing at it. */
function envOf(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    KEYFOB_CONFIG_DIR: join(home, 'keyfob-config'),
    KEYFOB_DATA_DIR: join(home, 'keyfob-data'),
    NO_COLOR: '1',
    ...extra,
  }
}

function keyfob(home: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: envOf(home, env), timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    )
  })
}

const newHome = () => mkdtempSync(join(tmpdir(), 'keyfob-openeo-'))
const config = (home: string) => JSON.parse(readFileSync(join(home, 'keyfob-config', 'config.json'), 'utf8'))

let idp: MockIdpServer
let backend: OpenEoBackend
const egi = () => ({
  id: 'egi',
  issuer: idp.issuer,
  title: 'EGI Check-in',
  scopes: ['openid'],
  default_clients: [
    {
      id: 'openeo-default',
      grant_types: [DEVICE, 'refresh_token', 'authorization_code+pkce'],
      redirect_urls: ['http://127.0.0.1/callback'],
    },
  ],
})

/** Approves the pending device code through the IdP's HTTP control plane once it shows up. */
async function approveWhenPending(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const devices = (await fetch(`${idp.issuer}/_control/devices`).then((r) => r.json())) as Array<{
      userCode: string
      status: string
    }>
    const pending = devices.find((d) => d.status === 'pending')
    if (pending) {
      await fetch(`${idp.issuer}/_control/devices/${pending.userCode}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      })
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('no device code was requested')
}

/** The back-end's `/me` with a bearer token. */
const me = (bearer: string) =>
  fetch(`${backend.root}/me`, { headers: { authorization: `Bearer ${bearer}` } }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as Record<string, unknown>,
  }))

/** A real refresh token of alice for the default client, as openEO would have stored it. */
const refreshToken = async () =>
  (
    await idp.idp.control.tokens.issue({
      clientId: 'openeo-default',
      sub: 'alice',
      scope: 'openid offline_access',
      refresh: true,
    })
  ).refresh_token as string

beforeAll(async () => {
  idp = await serve({
    port: 0,
    deviceIntervalS: 1,
    users: [{ sub: 'alice', password: 'alice' }],
    clients: [
      {
        clientId: 'openeo-default',
        grantTypes: [DEVICE, 'refresh_token', 'authorization_code'],
        redirectUris: ['http://127.0.0.1/callback'],
      },
    ],
  })
  backend = await openEoBackend({ issuer: idp.issuer, providers: [egi()], users: { alice: 'a11ce' } })
})

afterAll(async () => {
  await backend.close()
  await idp.close()
})

describe('openeo-auth’s commands in keyfob', () => {
  it('add-oidc <root URL> follows /.well-known/openeo; oidc-auth logs in; token --openeo is accepted by /me', async () => {
    const home = newHome()
    backend.requests.length = 0
    const added = await keyfob(home, ['add-oidc', backend.url, '--use-default-client', '--json'])
    expect(added.stderr).toBe('')
    expect(added.code).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({
      providerId: 'egi',
      issuer: idp.issuer,
      api: backend.url,
    })
    // The API lives at /openeo/1.2 (the highest production version), not at the root.
    expect(backend.requests.map((r) => r.path)).toContain('/.well-known/openeo')
    expect(backend.requests.map((r) => r.path)).toContain('/openeo/1.2/credentials/oidc')

    const [login] = await Promise.all([
      keyfob(home, [
        'oidc-auth',
        backend.url,
        '--provider-id',
        'egi',
        '--flow',
        'device',
        '--timeout',
        '30',
        '--no-qr',
      ]),
      approveWhenPending(),
    ])
    expect(login.stderr).toContain('Logged in')
    expect(login.code).toBe(0)

    const openeo = await keyfob(home, ['token', '--openeo', '--api', backend.url])
    expect(openeo.code).toBe(0)
    const bearer = openeo.stdout.trim()
    expect(bearer).toMatch(/^oidc\/egi\/eyJ/)
    expect(await me(bearer)).toEqual({ status: 200, body: { user_id: 'alice', provider: 'egi' } })
    // The back-end is strict: the bare token, or another provider id, is refused.
    expect((await me(bearer.slice('oidc/egi/'.length))).status).toBe(401)
    expect((await me(bearer.replace('oidc/egi/', 'oidc/other/'))).status).toBe(403)

    const format = await keyfob(home, ['token', '--format', 'openeo'])
    expect(format.stdout.trim()).toMatch(/^oidc\/egi\/eyJ/)
    const json = JSON.parse((await keyfob(home, ['token', '--json', '--openeo'])).stdout)
    expect(json).toMatchObject({ providerId: 'egi', clientId: 'openeo-default', issuer: idp.issuer })
    expect(json.bearer).toBe(`oidc/egi/${json.accessToken}`)
    expect(JSON.parse((await keyfob(home, ['token', '--format', 'json'])).stdout).providerId).toBe('egi')
    expect((await keyfob(home, ['token', '--format', 'yaml'])).code).toBe(2)
  }, 60_000)

  it('oidc-auth for an API keyfob does not know uses its default provider and client; login --flow', async () => {
    const home = newHome()
    const [login] = await Promise.all([
      keyfob(home, ['oidc-auth', backend.url, '--no-qr']),
      approveWhenPending(),
    ])
    expect(login.code).toBe(0)
    expect(login.stderr).toContain(`keyfob had no configuration for ${backend.url}`)
    expect(config(home).apis[backend.url]).toEqual({ providers: ['egi'], defaultProvider: 'egi' })
    expect((await me((await keyfob(home, ['token', '--openeo'])).stdout.trim())).status).toBe(200)

    const [again] = await Promise.all([
      keyfob(home, ['login', '--api', backend.url, '--flow', 'device', '--no-qr', '--json']),
      approveWhenPending(),
    ])
    expect(again.code).toBe(0)
    const bad = await keyfob(home, ['login', '--flow', 'implicit'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--flow "implicit" is not one of device, auth-code')
    const both = await keyfob(home, ['login', '--flow', 'auth-code', '--device'])
    expect(both.code).toBe(2)
    const unknown = await keyfob(home, ['oidc-auth', backend.url, '--provider-id', 'nope'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('provider "nope" is not configured; choose one of: egi')

    // --flow auth-code: the URL is printed; "the browser" is a fetch of it.
    const child = spawn(
      process.execPath,
      [bin, 'oidc-auth', backend.url, '--flow', 'auth-code', '--no-browser'],
      {
        env: envOf(home),
      },
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
    expect(url).toBeDefined()
    const callback = (await fetch(url as string, { redirect: 'manual' })).headers.get('location') ?? ''
    expect((await fetch(callback)).status).toBe(200)
    expect(await exited).toBe(0)
  }, 60_000)

  it('config and tokens are aliases; -v is --verbose and `keyfob -v` alone says where the version is', async () => {
    const home = newHome()
    await keyfob(home, ['add-oidc', backend.url, '--use-default-client'])
    expect(await keyfob(home, ['config'])).toEqual(await keyfob(home, ['config-dump']))
    expect(await keyfob(home, ['tokens'])).toEqual(await keyfob(home, ['token-dump']))
    expect((await keyfob(home, ['help', 'tokens'])).stdout).toContain('keyfob token-dump')

    const version = await keyfob(home, ['-v'])
    expect(version.code).toBe(2)
    expect(version.stdout).toBe('')
    expect(version.stderr).toContain('-v is --verbose (as in openeo-auth)')
    expect(version.stderr).toContain('keyfob --version')
    expect((await keyfob(home, ['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+/)

    const quiet = await keyfob(home, ['paths'])
    const verbose = await keyfob(home, ['-v', 'paths'])
    expect(verbose.code).toBe(0)
    expect(verbose.stdout).toBe(quiet.stdout)
    // openeo-auth's habit: -v before the command; -v after it works too, and adds notes.
    const noisy = await keyfob(home, ['-v', 'add-oidc', backend.url, '--use-default-client'])
    expect(noisy.stderr).toContain(`${backend.url}: API root ${backend.root}`)
    expect((await keyfob(home, ['add-oidc', backend.url, '--use-default-client', '-v'])).stderr).toContain(
      'API root',
    )
    expect((await keyfob(home, ['add-oidc', backend.url, '--use-default-client'])).stderr).not.toContain(
      'API root',
    )
  }, 60_000)

  it('add-oidc’s flags for an openEO API, paths, and the dumps with --show-secrets', async () => {
    const home = newHome()
    const added = await keyfob(home, [
      'add-oidc',
      backend.url,
      '--provider-id',
      'egi',
      '--client-id',
      'my-client',
      '--no-client-secret',
      '--json',
    ])
    expect(added.code).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({
      providerId: 'egi',
      clientId: 'my-client',
      api: backend.url,
    })
    expect(config(home).providers.egi.client).toEqual({ clientId: 'my-client' })
    const paths = JSON.parse((await keyfob(home, ['paths', '--json'])).stdout)
    expect(paths.configFile).toBe(join(home, 'keyfob-config', 'config.json'))
    expect(
      (await keyfob(home, ['add-basic', backend.url, '--username', 'alice'], { KEYFOB_PASSWORD: 'a11ce' }))
        .code,
    ).toBe(0)
    const hidden = await keyfob(home, ['config'])
    expect(hidden.stdout).not.toContain('a11ce')
    const shown = await keyfob(home, ['config', '--show-secrets'])
    expect(shown.stdout).toContain('"password": "a11ce"')
    expect(shown.stderr).toContain('the output contains secrets')
    expect((await keyfob(home, ['tokens', '--show-secrets'])).stderr).toContain('the output contains secrets')
  }, 60_000)

  it('token-clear: -f/--force, and without a terminal it never prompts', async () => {
    const home = newHome()
    const rt = await refreshToken()
    writeOpenEoFile(
      join(home, '.local', 'share', APP),
      'refresh-tokens.json',
      refreshTokensJson([{ issuer: idp.issuer, clientId: 'openeo-default', refreshToken: rt }]),
    )
    for (const args of [
      ['token-clear', '--all'],
      ['token-clear', '-f'],
      ['token-clear', '--force'],
    ]) {
      expect((await keyfob(home, ['import', 'openeo', '--overwrite'])).code).toBe(0)
      const cleared = await keyfob(home, args)
      expect(cleared.code).toBe(0)
      expect(cleared.stderr).toContain('Removed 1 stored login')
      expect(JSON.parse((await keyfob(home, ['tokens'])).stdout).tokens).toEqual([])
    }
  }, 60_000)

  it('add-basic tries the credentials at /credentials/basic first; --no-try does not; token --openeo gives basic//', async () => {
    const home = newHome()
    backend.requests.length = 0
    const wrong = await keyfob(home, ['add-basic', backend.url, '--username', 'alice'], {
      KEYFOB_PASSWORD: 'wrong',
    })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('rejected the Basic credentials of "alice" (HTTP 403)')
    expect(wrong.stderr).toContain('nothing was stored (pass --no-try')
    expect(wrong.stderr).not.toContain('wrong')
    expect(existsSync(join(home, 'keyfob-config', 'config.json'))).toBe(false)
    expect(backend.requests.map((r) => r.path)).toContain('/openeo/1.2/credentials/basic')

    const right = await keyfob(home, ['add-basic', backend.url, '--username', 'alice'], {
      KEYFOB_PASSWORD: 'a11ce',
    })
    expect(right.code).toBe(0)
    expect(right.stderr).toContain(`${backend.root}/credentials/basic accepted the credentials of alice`)
    const bearer = (await keyfob(home, ['token', '--openeo', '--api', backend.url])).stdout.trim()
    expect(bearer).toMatch(/^basic\/\/[0-9a-f-]{36}$/)
    expect(await me(bearer)).toEqual({ status: 200, body: { user_id: 'alice' } })
    expect((await keyfob(home, ['token', '--api', backend.url])).stderr).toContain('add --openeo')

    backend.requests.length = 0
    const untried = await keyfob(home, ['add-basic', backend.url, '--username', 'bob', '--no-try'], {
      KEYFOB_PASSWORD: 'unchecked',
    })
    expect(untried.code).toBe(0)
    expect(backend.requests).toEqual([])
    expect(config(home).apis[backend.url].basic.username).toBe('bob')
  }, 60_000)
})

describe('keyfob import openeo, from every layout openEO writes', () => {
  /** openEO's default dirs on Linux (openeo/config.py): ~/.config/… and ~/.local/share/…. */
  const layout = async (home: string, options: { auth?: boolean; tokens?: boolean } = {}) => {
    const configDir = join(home, '.config', APP)
    const dataDir = join(home, '.local', 'share', APP)
    if (options.auth !== false)
      writeOpenEoFile(
        configDir,
        'auth-config.json',
        authConfigJson({
          [backend.url]: { providers: { egi: { clientId: 'openeo-default', issuer: idp.issuer } } },
        }),
      )
    if (options.tokens !== false)
      writeOpenEoFile(
        dataDir,
        'refresh-tokens.json',
        refreshTokensJson([
          { issuer: idp.issuer, clientId: 'openeo-default', refreshToken: await refreshToken() },
        ]),
      )
    return { configDir, dataDir }
  }
  const works = async (home: string, args: string[] = ['token', '--openeo']) => {
    const token = await keyfob(home, args)
    expect(token.stderr).toBe('')
    expect((await me(token.stdout.trim())).status).toBe(200)
  }

  it('config and data dirs in their default places, and --from naming either one', async () => {
    for (const from of [undefined, 'config', 'data'] as const) {
      const home = newHome()
      const dirs = await layout(home)
      const args = [
        'import',
        'openeo',
        ...(from ? ['--from', from === 'config' ? dirs.configDir : dirs.dataDir] : []),
      ]
      const imported = await keyfob(home, args)
      expect(imported.code).toBe(0)
      expect(imported.stderr).toContain(`${join(dirs.configDir, 'auth-config.json')}: imported 3, skipped 0:`)
      expect(imported.stderr).toContain(
        `${join(dirs.dataDir, 'refresh-tokens.json')}: imported 1, skipped 0:`,
      )
      await works(home)
      await works(home, ['token', '--openeo', '--api', backend.url])
    }
  }, 60_000)

  it('refresh-tokens.json alone (authenticate_oidc() users): provider and client come from it', async () => {
    const home = newHome()
    const { dataDir } = await layout(home, { auth: false })
    const imported = await keyfob(home, ['import', 'openeo', '--json'])
    expect(imported.code).toBe(0)
    const result = JSON.parse(imported.stdout)
    expect(result.reports[0]).toMatchObject({ file: 'auth-config.json', path: null })
    expect(result.reports[1]).toMatchObject({ path: join(dataDir, 'refresh-tokens.json'), skipped: [] })
    expect(result.tokens).toBe(1)
    expect(Object.values(config(home).providers)).toEqual([
      { issuer: idp.issuer, client: { clientId: 'openeo-default' } },
    ])
    const token = await keyfob(home, ['token'])
    expect(token.code).toBe(0)
    expect(token.stdout).toMatch(/^eyJ/)
  }, 60_000)

  it('--config-from and --data-from, and OPENEO_CONFIG_HOME for both', async () => {
    const home = newHome()
    const elsewhere = await layout(join(home, 'old'))
    const split = await keyfob(home, [
      'import',
      'openeo',
      '--config-from',
      elsewhere.configDir,
      '--data-from',
      elsewhere.dataDir,
    ])
    expect(split.code).toBe(0)
    await works(home)

    const other = newHome()
    const both = join(other, 'openeo-home')
    writeOpenEoFile(
      both,
      'auth-config.json',
      authConfigJson({
        [backend.url]: { providers: { egi: { clientId: 'openeo-default', issuer: idp.issuer } } },
      }),
    )
    writeOpenEoFile(
      both,
      'refresh-tokens.json',
      refreshTokensJson([
        { issuer: idp.issuer, clientId: 'openeo-default', refreshToken: await refreshToken() },
      ]),
    )
    const env = { OPENEO_CONFIG_HOME: both }
    const imported = await keyfob(other, ['import', 'openeo'], env)
    expect(imported.stderr).toContain(join(both, 'refresh-tokens.json'))
    await works(other)

    const none = await keyfob(newHome(), ['import', 'openeo'])
    expect(none.code).not.toBe(0)
    expect(none.stderr).toContain(join('.config', APP, 'auth-config.json'))
  }, 60_000)

  it('add-oidc --use-default-client (client_id: null): the client comes from the back-end, or the refresh token', async () => {
    const home = newHome()
    writeOpenEoFile(
      join(home, '.config', APP),
      'auth-config.json',
      authConfigJson({
        [backend.url]: { providers: { egi: { clientId: null, issuer: idp.issuer } } },
      }),
    )
    const imported = await keyfob(home, ['import', 'openeo'])
    expect(imported.code).toBe(0)
    expect(imported.stderr).toContain('default clients of provider egi (openeo-default')
    expect(config(home).providers.egi.defaultClients[0].clientId).toBe('openeo-default')
    const [login] = await Promise.all([
      keyfob(home, ['login', '--api', backend.url, '--no-qr']),
      approveWhenPending(),
    ])
    expect(login.code).toBe(0)

    // The back-end unreachable: the client id of the refresh token.
    const offline = newHome()
    writeOpenEoFile(
      join(offline, '.config', APP),
      'auth-config.json',
      authConfigJson({
        'http://127.0.0.1:9': { providers: { egi: { clientId: null, issuer: idp.issuer } } },
      }),
    )
    writeOpenEoFile(
      join(offline, '.local', 'share', APP),
      'refresh-tokens.json',
      refreshTokensJson([
        { issuer: idp.issuer, clientId: 'openeo-default', refreshToken: await refreshToken() },
      ]),
    )
    expect((await keyfob(offline, ['import', 'openeo'])).code).toBe(0)
    expect(config(offline).providers.egi.client).toEqual({ clientId: 'openeo-default' })
    expect((await keyfob(offline, ['token'])).stdout).toMatch(/^eyJ/)
  }, 60_000)

  it('never clobbers without --overwrite, and lists every difference', async () => {
    const home = newHome()
    expect(
      (
        await keyfob(home, ['add-basic', backend.url, '--username', 'alice', '--no-try'], {
          KEYFOB_PASSWORD: 'a11ce',
        })
      ).code,
    ).toBe(0)
    writeOpenEoFile(
      join(home, '.config', APP),
      'auth-config.json',
      authConfigJson({
        [backend.url]: { basic: { username: 'john', password: 'j0hn123' } },
        'https://nopass.example': { basic: { username: 'ann' } },
      }),
    )
    const kept = await keyfob(home, ['import', 'openeo'])
    expect(kept.code).toBe(0)
    expect(kept.stderr).toContain(
      `skipped: Basic credentials for ${backend.url}: keyfob has alice, openEO has john (kept keyfob’s; import with --overwrite to replace it)`,
    )
    expect(kept.stderr).toContain(
      'skipped: Basic credentials of ann for https://nopass.example: openEO stored no password',
    )
    expect(kept.stderr).not.toContain('j0hn123')
    expect(config(home).apis[backend.url].basic).toEqual({ username: 'alice', password: 'a11ce' })
    expect(config(home).apis['https://nopass.example']).toBeUndefined()
    const replaced = await keyfob(home, ['import', 'openeo', '--overwrite'])
    expect(replaced.stderr).toContain('imported: Basic credentials of john')
    expect(config(home).apis[backend.url].basic).toEqual({ username: 'john', password: 'j0hn123' })
  }, 60_000)
})

describe('a hostile back-end', () => {
  const hostile = async (provider: Record<string, unknown>) => {
    const before = backend.providers
    backend.providers = [{ ...egi(), ...provider }]
    try {
      return await keyfob(newHome(), ['add-oidc', backend.url, '--use-default-client', '--json'])
    } finally {
      backend.providers = before
    }
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  const control = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

  it('cannot write terminal escapes through provider ids or titles', async () => {
    const osc52 = '\u001b]52;c;ZWNobyBwd25lZA==\u0007'
    const byId = await hostile({ id: `egi${osc52}` })
    expect(byId.code).not.toBe(0)
    expect(byId.stderr).toContain('is not a valid provider id')
    expect(byId.stderr + byId.stdout).not.toMatch(control)

    const byTitle = await hostile({ title: `EGI\u001b[2K\r${osc52}` })
    expect(byTitle.code).toBe(0)
    expect(byTitle.stderr + byTitle.stdout).not.toMatch(control)
  }, 30_000)

  it('never silently rewrites a configured provider’s authorization parameters', async () => {
    const home = newHome()
    expect((await keyfob(home, ['add-oidc', backend.url, '--use-default-client'])).code).toBe(0)
    const file = join(home, 'keyfob-config', 'config.json')
    const mine = config(home)
    mine.providers.egi.authorizationParameters = { prompt: 'login' }
    writeFileSync(file, JSON.stringify(mine), { mode: 0o600 })
    const before = backend.providers
    backend.providers = [{ ...egi(), authorization_parameters: { prompt: 'none' } }]
    try {
      const again = await keyfob(home, ['add-oidc', backend.url, '--use-default-client'])
      expect(again.code).toBe(0)
      expect(again.stderr).toContain(
        'warning: provider egi: keeping the configured authorizationParameters {"prompt":"login"}',
      )
      expect(config(home).providers.egi.authorizationParameters).toEqual({ prompt: 'login' })
    } finally {
      backend.providers = before
    }
  }, 30_000)

  it('cannot override protocol parameters through authorization_parameters', async () => {
    for (const name of [
      'redirect_uri',
      'state',
      'client_id',
      'response_type',
      'code_challenge',
      'code_challenge_method',
    ]) {
      const refused = await hostile({ authorization_parameters: { [name]: 'https://evil.example/' } })
      expect(refused.code).not.toBe(0)
      expect(refused.stderr).toContain(
        `authorization_parameters names "${name}", which the client sets itself`,
      )
    }
    const fine = await hostile({ authorization_parameters: { prompt: 'login' } })
    expect(fine.code).toBe(0)
  }, 60_000)
})

const tmux = spawnSync('sh', ['-c', 'command -v tmux']).status === 0
if (!tmux && process.env.CI === 'true')
  throw new Error(
    'the terminal test is required under CI=true but tmux is missing (scripts/ci-system-deps.sh installs it)',
  )
if (!tmux) console.warn('skipping the terminal test: tmux is not installed')

describe.skipIf(!tmux)('token-clear in a real terminal', () => {
  it('asks for confirmation, as openeo-auth does: n keeps, y removes', async () => {
    const home = newHome()
    writeOpenEoFile(
      join(home, '.local', 'share', APP),
      'refresh-tokens.json',
      refreshTokensJson([
        { issuer: idp.issuer, clientId: 'openeo-default', refreshToken: await refreshToken() },
      ]),
    )
    expect((await keyfob(home, ['import', 'openeo'])).code).toBe(0)
    const count = async () => JSON.parse((await keyfob(home, ['tokens'])).stdout).tokens.length
    for (const [answer, left] of [
      ['n', 1],
      ['y', 0],
    ] as const) {
      const session = `keyfob-openeo-${process.pid}-${answer}`
      const screen = () =>
        spawnSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' }).stdout
      const until = async (text: string) => {
        for (let i = 0; i < 200; i++) {
          if (screen().includes(text)) return
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        throw new Error(`the terminal never showed ${JSON.stringify(text)}; it shows:\n${screen()}`)
      }
      const env = Object.entries(envOf(home))
        .filter(([name]) => name !== 'PATH')
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
      const command = `${env} ${process.execPath} ${bin} token-clear --all; echo "exit=$?"; sleep 30`
      expect(
        spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '30', command]).status,
      ).toBe(0)
      try {
        await until("Remove? 'y' or 'n':")
        expect(screen()).toContain(`openeo-default at ${idp.issuer}`)
        spawnSync('tmux', ['send-keys', '-t', session, answer, 'Enter'])
        await until('exit=')
        expect(screen()).toContain(answer === 'n' ? 'Keeping the stored tokens.' : 'Removed 1 stored login')
        expect(screen()).toContain('exit=0')
      } finally {
        spawnSync('tmux', ['kill-session', '-t', session])
      }
      expect(await count()).toBe(left)
    }
  }, 30_000)
})
