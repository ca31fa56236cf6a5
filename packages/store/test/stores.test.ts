/** Memory and file stores: the shared contract, then what only files do. Runs on Node, Deno and Bun. */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { emptyConfig, type TokenKey } from '@keyfob/core'
import { describe, expect, it } from 'vitest'
import {
  defaultPaths,
  fallbackTokenStore,
  fileConfigStore,
  fileTokenStore,
  importOpenEo,
  memoryConfigStore,
  memoryTokenStore,
  openEoCandidates,
  openEoPaths,
  openEoSearchPaths,
  StoreError,
  type StoreWarning,
  withFileLock,
} from '../src/index.ts'
import { DPOP_KEY, SECRET, tokenStoreContract } from './contract.ts'
import { authConfigJson, refreshTokensJson, writeOpenEoFile } from './fixtures/openeo.ts'

const posix = process.platform !== 'win32'
const tempDir = () => mkdtempSync(join(tmpdir(), 'keyfob-store-'))
const key: TokenKey = { issuer: 'https://idp.example', clientId: 'cli' }
const mode = (path: string) => statSync(path).mode & 0o777

async function errorOf(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(Error)
  return error as StoreError
}

tokenStoreContract('memory', () => memoryTokenStore())
tokenStoreContract('file', () => fileTokenStore({ dir: join(tempDir(), 'data') }))

describe('fileTokenStore on disk', () => {
  it('creates tokens.json 0600 in a 0700 directory, with a schema version', async () => {
    const dir = join(tempDir(), 'nested', 'data')
    const store = fileTokenStore({ dir })
    await store.set(key, { refreshToken: 'r', updatedAt: 1 })
    expect(store.path).toBe(join(dir, 'tokens.json'))
    const file = JSON.parse(readFileSync(store.path, 'utf8'))
    expect(file).toEqual({
      version: 1,
      tokens: [
        { issuer: 'https://idp.example', clientId: 'cli', record: { refreshToken: 'r', updatedAt: 1 } },
      ],
    })
    if (posix) {
      expect(mode(store.path)).toBe(0o600)
      expect(mode(dir)).toBe(0o700)
    }
    // No temp or lock files are left behind.
    expect(readdirSync(dir).filter((f) => f !== 'tokens.json' && f !== 'locks')).toEqual([])
  })

  it('refuses a file others may read, naming its path, mode and the fix', async () => {
    if (!posix) return // documented: Windows has no mode bits; ACLs are not checked
    const store = fileTokenStore({ dir: tempDir() })
    await store.set(key, { refreshToken: SECRET, updatedAt: 1 })
    chmodSync(store.path, 0o644)
    const error = await errorOf(store.get(key))
    expect(error.code).toBe('ERR_INSECURE_PERMISSIONS')
    expect(error.message).toContain(store.path)
    expect(error.message).toContain('644')
    expect(error.message).toContain(`chmod 600 '${store.path}'`)
    expect(`${error.message}${JSON.stringify(error.cause)}`).not.toContain(SECRET)
    // Writes are refused too: nothing is written over a file in an unknown state.
    expect((await errorOf(store.set(key, { updatedAt: 2 }))).code).toBe('ERR_INSECURE_PERMISSIONS')
    chmodSync(store.path, 0o600)
    expect((await store.get(key))?.refreshToken).toBe(SECRET)
  })

  it('moves a corrupted file aside, says where, and starts afresh', async () => {
    const dir = tempDir()
    const store = fileTokenStore({ dir })
    writeFileSync(store.path, `{"version":1,"tokens":[{"issuer":"x","refresh":"${SECRET}"`, { mode: 0o600 })
    const error = await errorOf(store.list())
    expect(error.code).toBe('ERR_CORRUPT_FILE')
    expect(error.message).toContain(store.path)
    expect(`${error.message}${JSON.stringify(error.cause)}`).not.toContain(SECRET)
    const aside = (error.cause as { movedTo: string }).movedTo
    expect(readFileSync(aside, 'utf8')).toContain(SECRET) // kept, not overwritten
    expect(existsSync(store.path)).toBe(false)
    await store.set(key, { updatedAt: 3 })
    expect(await store.get(key)).toEqual({ updatedAt: 3 })
  })

  it('treats a file in an unknown shape as corrupt too', async () => {
    const store = fileTokenStore({ dir: tempDir() })
    writeFileSync(store.path, JSON.stringify({ version: 1, tokens: { issuer: 1 } }), { mode: 0o600 })
    const error = await errorOf(store.get(key))
    expect(error.code).toBe('ERR_CORRUPT_FILE')
    expect(error.message).toContain('"tokens" must be an array')
  })

  it('skips an entry with a wrong field, warning once with the file, key and field; serves the others', async () => {
    const warnings: StoreWarning[] = []
    const store = fileTokenStore({ dir: tempDir(), onWarning: (w) => warnings.push(w) })
    const work = { ...key, account: 'work' }
    const good = { issuer: key.issuer, clientId: 'other', record: { accessToken: 'a', updatedAt: 1 } }
    const bad = (record: unknown, extra: object = {}) => ({
      issuer: key.issuer,
      clientId: key.clientId,
      ...extra,
      record,
    })
    writeFileSync(
      store.path,
      JSON.stringify({
        version: 1,
        tokens: [
          bad({ accessToken: SECRET, expiresAt: '2099-01-01', updatedAt: 1 }),
          bad({ refreshToken: 42, updatedAt: 1 }, { account: 'work' }),
          { issuer: 7, clientId: 'x', record: { updatedAt: 1 } },
          null,
          good,
        ],
      }),
      { mode: 0o600 },
    )
    expect(await store.get(key)).toBeUndefined() // never a stale token served as fresh
    expect(await store.get(work)).toBeUndefined()
    expect(await store.get({ issuer: key.issuer, clientId: 'other' })).toEqual(good.record)
    expect((await store.list()).map((e) => e.key.clientId)).toEqual(['other'])
    expect(warnings.map((w) => [w.field, w.key?.account ?? w.key?.clientId])).toEqual([
      ['record.expiresAt', 'cli'],
      ['record.refreshToken', 'work'],
      ['issuer', undefined],
      ['entry', undefined],
    ])
    for (const w of warnings) {
      expect(w.code).toBe('WARN_INVALID_RECORD')
      expect(w.message).toContain(store.path)
      expect(w.message).not.toContain(SECRET)
    }
    expect(warnings[0]?.message).toContain('cli@https://idp.example')
    expect(warnings[2]?.message).toContain('tokens[2]')
    // A set replaces the bad entry; the ones it cannot read stay in the file, untouched.
    await store.set(key, { updatedAt: 5 })
    expect(await store.get(key)).toEqual({ updatedAt: 5 })
    expect(JSON.parse(readFileSync(store.path, 'utf8')).tokens).toHaveLength(5)
  })

  it('keeps a DPoP key in the 0600 file, and skips a record whose key is damaged, naming the member', async () => {
    const warnings: StoreWarning[] = []
    const dir = tempDir()
    const store = fileTokenStore({ dir, onWarning: (w) => warnings.push(w) })
    await store.set(key, { refreshToken: 'rt', dpopKey: DPOP_KEY, updatedAt: 1 })
    if (posix) expect(mode(store.path)).toBe(0o600)
    expect(JSON.parse(readFileSync(store.path, 'utf8')).tokens[0].record.dpopKey).toEqual(DPOP_KEY)
    const damaged = [
      [{ alg: 'ES256' }, 'record.dpopKey.jwk'],
      [{ alg: 'ES256', jwk: { ...DPOP_KEY.jwk, d: 7 } }, 'record.dpopKey.jwk.d'],
      [{ alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' } }, 'record.dpopKey.jwk.d'],
      [{ jwk: DPOP_KEY.jwk }, 'record.dpopKey.alg'],
      ['key', 'record.dpopKey'],
    ] as const
    for (const [i, [dpopKey]] of damaged.entries())
      await store.set({ ...key, account: `a${i}` }, { refreshToken: SECRET, dpopKey, updatedAt: 1 } as never)
    for (const [i] of damaged.entries()) expect(await store.get({ ...key, account: `a${i}` })).toBeUndefined()
    expect(warnings.map((w) => w.field)).toEqual(damaged.map(([, field]) => field))
    for (const w of warnings) expect(w.message).not.toContain(SECRET)
    expect(await store.delete(key)).toBe(true)
    const left = JSON.parse(readFileSync(store.path, 'utf8')).tokens as Array<{ account?: string }>
    expect(left.filter((entry) => entry.account === undefined)).toEqual([])
  })

  it('reads a newer schema version and keeps fields it does not know', async () => {
    const store = fileTokenStore({ dir: tempDir() })
    const future = {
      version: 2,
      encryption: { scheme: 'future' },
      tokens: [
        {
          issuer: key.issuer,
          clientId: key.clientId,
          dpopKey: { kty: 'EC' },
          record: { updatedAt: 1, extra: 1 },
        },
      ],
    }
    writeFileSync(store.path, JSON.stringify(future), { mode: 0o600 })
    expect(await store.get(key)).toEqual({ updatedAt: 1, extra: 1 })
    await store.set({ ...key, account: 'b' }, { updatedAt: 2 })
    const after = JSON.parse(readFileSync(store.path, 'utf8'))
    expect(after.version).toBe(2)
    expect(after.encryption).toEqual({ scheme: 'future' })
    expect(after.tokens[0].dpopKey).toEqual({ kty: 'EC' })
    // Replacing a record keeps the entry's unknown fields.
    await store.set(key, { updatedAt: 3 })
    expect(JSON.parse(readFileSync(store.path, 'utf8')).tokens[0].dpopKey).toEqual({ kty: 'EC' })
  })

  it('waits for a live lock, then ends in a typed timeout naming the holder', async () => {
    const dir = tempDir()
    const store = fileTokenStore({ dir, lockTimeoutMs: 150 })
    // A live holder: this very host and a running process (our parent), fresh.
    writeFileSync(
      `${store.path}.lock`,
      JSON.stringify({ pid: process.ppid, host: hostname(), createdAt: Date.now(), nonce: 'n' }),
    )
    const error = await errorOf(store.set(key, { updatedAt: 1 }))
    expect(error.code).toBe('ERR_LOCK_TIMEOUT')
    expect(error.message).toContain(`pid ${process.ppid}`)
    expect(error.message).toContain(`${store.path}.lock`)
  })

  it('takes over a lock whose owner is dead, or that is too old', async () => {
    const dir = tempDir()
    const store = fileTokenStore({ dir, lockTimeoutMs: 2_000, staleLockMs: 5_000 })
    const dead = 2 ** 22 + 12345 // above the default pid_max: no such process
    writeFileSync(
      `${store.path}.lock`,
      JSON.stringify({ pid: dead, host: hostname(), createdAt: Date.now(), nonce: 'a' }),
    )
    await store.set(key, { updatedAt: 1 })
    expect(existsSync(`${store.path}.lock`)).toBe(false)
    // Another host's lock cannot be checked for life: only age counts.
    writeFileSync(
      `${store.path}.lock`,
      JSON.stringify({ pid: 1, host: 'elsewhere', createdAt: Date.now() - 60_000, nonce: 'b' }),
    )
    await store.set(key, { updatedAt: 2 })
    expect(await store.get(key)).toEqual({ updatedAt: 2 })
  })

  it('a lock whose time lies in the future (a host with a clock ahead) is judged by its file time', async () => {
    const dir = tempDir()
    const store = fileTokenStore({ dir, lockTimeoutMs: 2_000, staleLockMs: 5_000 })
    const lockPath = `${store.path}.lock`
    const future = (mtime: number) => {
      writeFileSync(
        lockPath,
        JSON.stringify({ pid: 1, host: 'elsewhere', createdAt: Date.now() + 3_600_000, nonce: 'f' }),
      )
      utimesSync(lockPath, mtime / 1000, mtime / 1000)
    }
    // Left long ago by the host whose clock is an hour ahead: taken over.
    future(Date.now() - 60_000)
    await store.set(key, { updatedAt: 1 })
    // Its file time is in the future too: nothing about it can be believed; taken over.
    future(Date.now() + 3_600_000)
    await store.set(key, { updatedAt: 2 })
    expect(await store.get(key)).toEqual({ updatedAt: 2 })
    // Written just now: it may well be held; it is waited for.
    future(Date.now())
    const error = await errorOf(fileTokenStore({ dir, lockTimeoutMs: 150 }).set(key, { updatedAt: 3 }))
    expect(error.code).toBe('ERR_LOCK_TIMEOUT')
  })

  it('removes the temp files and lock drafts of killed writers on the next change, even a delete of nothing', async () => {
    const dir = tempDir()
    const store = fileTokenStore({ dir })
    await store.set(key, { refreshToken: SECRET, updatedAt: 1 })
    const dead = 2 ** 22 + 12345 // above the default pid_max: no such process
    const temp = `${store.path}.${dead}.0123456789ab.tmp`
    const draft = `${store.path}.lock.0123456789abcdef.owner`
    writeFileSync(temp, readFileSync(store.path), { mode: 0o600 })
    writeFileSync(draft, JSON.stringify({ pid: dead, host: hostname(), createdAt: Date.now(), nonce: 'x' }))
    const unrelated = join(dir, 'tokens.json.notes.tmp')
    writeFileSync(unrelated, 'mine')
    expect(await store.delete({ ...key, account: 'nobody' })).toBe(false)
    expect(existsSync(temp)).toBe(false)
    expect(existsSync(draft)).toBe(false)
    expect(existsSync(unrelated)).toBe(true) // only what keyfob names that way
    expect(await store.get(key)).toEqual({ refreshToken: SECRET, updatedAt: 1 })
  })

  it('withFileLock can be cancelled while waiting', async () => {
    const dir = tempDir()
    const lock = join(dir, 'x.lock')
    writeFileSync(
      lock,
      JSON.stringify({ pid: process.ppid, host: hostname(), createdAt: Date.now(), nonce: 'n' }),
    )
    const abort = new AbortController()
    setTimeout(() => abort.abort(), 30)
    const error = await errorOf(withFileLock(lock, async () => 1, { signal: abort.signal, timeoutMs: 5_000 }))
    expect(error.code).toBe('ERR_ABORTED')
  })

  it('reports an unwritable directory as ERR_STORE with the path', async () => {
    if (!posix || process.getuid?.() === 0) return // root writes anywhere
    const dir = tempDir()
    chmodSync(dir, 0o500)
    const error = await errorOf(fileTokenStore({ dir: join(dir, 'sub') }).set(key, { updatedAt: 1 }))
    expect(error.code).toBe('ERR_STORE')
    expect(error.message).toContain(dir)
  })
})

describe('config stores', () => {
  for (const [name, make] of [
    ['memory', () => memoryConfigStore()],
    ['file', () => fileConfigStore({ dir: join(tempDir(), 'config') })],
  ] as const) {
    it(`${name}: reads empty, updates atomically, loses nothing to concurrent updates`, async () => {
      const store = make()
      expect(await store.read()).toEqual(emptyConfig())
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.update((c) => ({
            ...c,
            providers: { ...c.providers, [`p${i}`]: { issuer: `https://idp${i}.example` } },
          })),
        ),
      )
      expect(Object.keys((await store.read()).providers).sort()).toEqual(
        Array.from({ length: 20 }, (_, i) => `p${i}`).sort(),
      )
      // An update that would make it invalid changes nothing.
      const error = await errorOf(store.update((c) => ({ ...c, defaultProvider: 'nope' })))
      expect((error as { code?: string }).code).toBe('ERR_INVALID_CONFIG')
      expect((await store.read()).defaultProvider).toBeUndefined()
    })
  }

  it('file: a hand-edited mistake is reported with the field and left in place', async () => {
    const store = fileConfigStore({ dir: tempDir() })
    writeFileSync(store.path, JSON.stringify({ version: 1, providers: { x: { issuer: 'not a url' } } }), {
      mode: 0o600,
    })
    const error = await errorOf(store.read())
    expect((error as { code?: string }).code).toBe('ERR_INVALID_CONFIG')
    expect(error.message).toContain('providers.x.issuer')
    expect(error.message).toContain(store.path)
    expect(existsSync(store.path)).toBe(true)
    // Every field is checked on read, and a provider id that is not an ordinary name is refused.
    writeFileSync(store.path, '{"version":1,"providers":{"__proto__":{"issuer":"https://idp.example"}}}', {
      mode: 0o600,
    })
    const reserved = await errorOf(store.read())
    expect((reserved as { code?: string }).code).toBe('ERR_INVALID_CONFIG')
    expect(reserved.message).toContain('"__proto__"')
  })
})

describe('defaultPaths', () => {
  const cases: Array<[string, Parameters<typeof defaultPaths>[0], string, string]> = [
    [
      'linux defaults',
      { env: {}, platform: 'linux', homedir: '/h' },
      '/h/.config/keyfob',
      '/h/.local/share/keyfob',
    ],
    [
      'XDG variables',
      { env: { XDG_CONFIG_HOME: '/c', XDG_DATA_HOME: '/d' }, platform: 'linux', homedir: '/h' },
      '/c/keyfob',
      '/d/keyfob',
    ],
    [
      'keyfob overrides win',
      {
        env: { KEYFOB_CONFIG_DIR: '/kc', KEYFOB_DATA_DIR: '/kd', XDG_CONFIG_HOME: '/c' },
        platform: 'linux',
        homedir: '/h',
      },
      '/kc',
      '/kd',
    ],
    [
      'empty variables are unset',
      { env: { XDG_CONFIG_HOME: '' }, platform: 'linux', homedir: '/h' },
      '/h/.config/keyfob',
      '/h/.local/share/keyfob',
    ],
    [
      'macOS',
      { env: {}, platform: 'darwin', homedir: '/Users/a' },
      '/Users/a/Library/Application Support/keyfob',
      '/Users/a/Library/Application Support/keyfob',
    ],
    [
      'Windows',
      { env: { APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, platform: 'win32', homedir: 'C:\\Users\\a' },
      'C:\\Users\\a\\AppData\\Roaming\\keyfob',
      'C:\\Users\\a\\AppData\\Roaming\\keyfob',
    ],
  ]
  for (const [name, input, config, data] of cases) {
    it(name, () => {
      const paths = defaultPaths(input)
      expect([paths.configDir, paths.dataDir]).toEqual([config, data])
    })
  }

  it('openEO candidates are openeo/config.py’s _get_user_dir lists, per platform', () => {
    const app = 'openeo-python-client'
    // Windows: %APPDATA%, then ~\\AppData\\Roaming, then the XDG fallback (~/.config or ~/.local/share).
    const win = { platform: 'win32', homedir: 'C:\\Users\\ann', env: { APPDATA: 'D:\\Roaming' } }
    expect(openEoCandidates('config', win)).toEqual([
      `D:\\Roaming\\${app}`,
      `C:\\Users\\ann\\AppData\\Roaming\\${app}`,
      `C:\\Users\\ann\\.config\\${app}`,
    ])
    expect(openEoCandidates('data', win)).toEqual([
      `D:\\Roaming\\${app}`,
      `C:\\Users\\ann\\AppData\\Roaming\\${app}`,
      `C:\\Users\\ann\\.local\\share\\${app}`,
    ])
    expect(openEoPaths({ ...win, env: {} })).toEqual({
      configDir: `C:\\Users\\ann\\AppData\\Roaming\\${app}`,
      dataDir: `C:\\Users\\ann\\AppData\\Roaming\\${app}`,
    })
    // macOS: XDG first when set, then ~/Library/Preferences (config) or ~/Library (data).
    expect(
      openEoCandidates('data', { platform: 'darwin', homedir: '/Users/a', env: { XDG_DATA_HOME: '/x' } }),
    ).toEqual([`/x/${app}`, `/Users/a/Library/${app}`, `/Users/a/.local/share/${app}`])
    // OPENEO_CONFIG_HOME first, for both files, as-is.
    expect(
      openEoCandidates('data', { platform: 'linux', homedir: '/h', env: { OPENEO_CONFIG_HOME: '/o' } }),
    ).toEqual(['/o', `/h/.local/share/${app}`])
  })

  it('openEO paths: the first candidate that exists, as openEO picks it', () => {
    const home = tempDir()
    const env = { XDG_CONFIG_HOME: join(home, 'xdg') }
    // $XDG_CONFIG_HOME/openeo-python-client is missing but ~/.config/openeo-python-client exists.
    mkdirSync(join(home, '.config', 'openeo-python-client'), { recursive: true })
    expect(openEoPaths({ env, platform: 'linux', homedir: home }).configDir).toBe(
      join(home, '.config', 'openeo-python-client'),
    )
    // `from` is searched first for both files, then openEO's own places; configFrom/dataFrom alone.
    expect(openEoSearchPaths({ from: '/f' }, { env: {}, platform: 'linux', homedir: '/h' })).toEqual({
      configDirs: ['/f', '/h/.config/openeo-python-client'],
      dataDirs: ['/f', '/h/.local/share/openeo-python-client'],
    })
    expect(
      openEoSearchPaths({ from: '/f', dataFrom: '/d' }, { env: {}, platform: 'linux', homedir: '/h' })
        .dataDirs,
    ).toEqual(['/d'])
  })

  it('openEO paths follow its own rules', () => {
    expect(openEoPaths({ env: { OPENEO_CONFIG_HOME: '/o' }, platform: 'linux', homedir: '/h' })).toEqual({
      configDir: '/o',
      dataDir: '/o',
    })
    expect(openEoPaths({ env: {}, platform: 'linux', homedir: '/h' })).toEqual({
      configDir: '/h/.config/openeo-python-client',
      dataDir: '/h/.local/share/openeo-python-client',
    })
  })
})

describe('fallbackTokenStore', () => {
  it('uses the first store that works and says why the others were skipped', async () => {
    const broken = Object.assign(memoryTokenStore(), {
      kind: 'keychain',
      probe: async () => {
        throw new StoreError('ERR_KEYCHAIN_UNAVAILABLE', 'no secret service; install gnome-keyring')
      },
    })
    const file = fileTokenStore({ dir: tempDir() })
    const told: string[] = []
    const store = fallbackTokenStore([broken, file], {
      onSelect: (s, skipped) => told.push(`${s.kind}: ${skipped.map((x) => `${x.kind} ${x.code}`).join()}`),
    })
    expect(store.kind).toBe('auto')
    await store.set(key, { updatedAt: 1 })
    expect(store.kind).toBe('file')
    expect(told).toEqual(['file: keychain ERR_KEYCHAIN_UNAVAILABLE'])
    expect(await file.get(key)).toEqual({ updatedAt: 1 })
  })
})

describe('importOpenEo', () => {
  const fixture = () => {
    const dir = tempDir()
    const configDir = join(dir, 'config')
    const dataDir = join(dir, 'data')
    mkdirSync(configDir)
    mkdirSync(dataDir)
    writeFileSync(
      join(configDir, 'auth-config.json'),
      JSON.stringify({
        backends: {
          'openeo.example/': {
            basic: { date: '2020-06-08T11:18:27Z', username: 'john', password: SECRET },
            oidc: {
              providers: {
                egi: {
                  date: '2020-06-08T11:18:27Z',
                  client_id: 'client123',
                  client_secret: 's',
                  issuer: 'https://aai.egi.example/realm/',
                },
                nowhere: { date: '2020-06-08T11:18:27Z', client_id: 'c' },
              },
            },
          },
        },
        metadata: { type: 'AuthConfig', version: 1 },
        general: {},
      }),
      { mode: 0o600 },
    )
    writeFileSync(
      join(dataDir, 'refresh-tokens.json'),
      JSON.stringify({
        'https://aai.egi.example/realm': {
          client123: { date: '2022-05-11T13:13:20Z', refresh_token: SECRET },
        },
      }),
      { mode: 0o600 },
    )
    return { configDir, dataDir }
  }

  it('imports providers, clients, Basic credentials and refresh tokens, and reports what it skipped', async () => {
    const from = fixture()
    const config = memoryConfigStore()
    const tokens = memoryTokenStore()
    const result = await importOpenEo({ config, tokens, from })
    expect(result.providers).toEqual(['egi'])
    expect(result.apis).toEqual(['https://openeo.example'])
    expect(result.tokens).toBe(1)
    expect(result.skipped).toEqual([
      'provider nowhere of https://openeo.example: no issuer recorded; run keyfob add-oidc https://openeo.example',
    ])
    const c = await config.read()
    expect(c.providers.egi).toEqual({
      issuer: 'https://aai.egi.example/realm',
      client: { clientId: 'client123', clientSecret: 's' },
    })
    expect(c.apis['https://openeo.example']).toEqual({
      basic: { username: 'john', password: SECRET },
      providers: ['egi'],
    })
    expect(await tokens.get({ issuer: 'https://aai.egi.example/realm', clientId: 'client123' })).toEqual({
      refreshToken: SECRET,
      updatedAt: Date.parse('2022-05-11T13:13:20Z'),
    })
    // Again: nothing is duplicated, the existing token is kept.
    const again = await importOpenEo({ config, tokens, from })
    expect(again.tokens).toBe(0)
    expect((await config.read()).apis['https://openeo.example']?.providers).toEqual(['egi'])
    expect(JSON.stringify(again)).not.toContain(SECRET)
  })

  it('fails clearly without files, and on a file that is not JSON (without moving it)', async () => {
    const empty = { configDir: tempDir(), dataDir: tempDir() }
    const error = await errorOf(
      importOpenEo({ config: memoryConfigStore(), tokens: memoryTokenStore(), from: empty }),
    )
    expect(error.code).toBe('ERR_IMPORT')
    expect(error.message).toContain('auth-config.json')
    writeFileSync(join(empty.configDir, 'auth-config.json'), `{"backends": ${SECRET}`, { mode: 0o600 })
    const bad = await errorOf(
      importOpenEo({ config: memoryConfigStore(), tokens: memoryTokenStore(), from: empty }),
    )
    expect(bad.code).toBe('ERR_IMPORT')
    expect(bad.message).not.toContain(SECRET)
    expect(existsSync(join(empty.configDir, 'auth-config.json'))).toBe(true)
  })

  it('finds each file in its own directory, with `from` naming either one', async () => {
    const home = tempDir()
    const environment = { env: {}, platform: 'linux', homedir: home }
    const configDir = join(home, '.config', 'openeo-python-client')
    const dataDir = join(home, '.local', 'share', 'openeo-python-client')
    writeOpenEoFile(
      configDir,
      'auth-config.json',
      authConfigJson({
        'https://openeo.example': { providers: { egi: { clientId: 'c1', issuer: 'https://idp.example' } } },
      }),
    )
    writeOpenEoFile(
      dataDir,
      'refresh-tokens.json',
      refreshTokensJson([{ issuer: 'https://idp.example', clientId: 'c1', refreshToken: SECRET }]),
    )
    for (const from of [undefined, configDir, dataDir]) {
      const result = await importOpenEo({
        config: memoryConfigStore(),
        tokens: memoryTokenStore(),
        search: openEoSearchPaths(from === undefined ? {} : { from }, environment),
      })
      expect(result.files).toEqual({
        authConfig: join(configDir, 'auth-config.json'),
        refreshTokens: join(dataDir, 'refresh-tokens.json'),
      })
      expect(result.tokens).toBe(1)
      expect(result.reports.map((r) => [r.file, r.imported.length, r.skipped])).toEqual([
        ['auth-config.json', 3, []],
        ['refresh-tokens.json', 1, []],
      ])
    }
  })

  it('refresh-tokens.json alone makes the provider and client from its issuer and client id', async () => {
    const dataDir = tempDir()
    writeOpenEoFile(
      dataDir,
      'refresh-tokens.json',
      refreshTokensJson([
        {
          issuer: 'https://aai.egi.example/auth/realms/egi/',
          clientId: 'openeo-platform-default-client',
          refreshToken: SECRET,
        },
      ]),
    )
    const config = memoryConfigStore()
    const tokens = memoryTokenStore()
    const result = await importOpenEo({
      config,
      tokens,
      search: { configDirs: [tempDir()], dataDirs: [dataDir] },
    })
    expect(result.files).toEqual({ refreshTokens: join(dataDir, 'refresh-tokens.json') })
    expect(result.reports[0].path).toBeNull()
    expect((await config.read()).providers).toEqual({
      'aai.egi.example': {
        issuer: 'https://aai.egi.example/auth/realms/egi',
        client: { clientId: 'openeo-platform-default-client' },
      },
    })
    expect(
      await tokens.get({
        issuer: 'https://aai.egi.example/auth/realms/egi',
        clientId: 'openeo-platform-default-client',
      }),
    ).toMatchObject({ refreshToken: SECRET })
  })

  it('keeps the default client of --use-default-client (client_id: null)', async () => {
    const dir = tempDir()
    writeOpenEoFile(
      dir,
      'auth-config.json',
      authConfigJson({
        'https://a.example': { providers: { egi: { clientId: null, issuer: 'https://idp.example' } } },
        'https://b.example': { providers: { other: { clientId: null, issuer: 'https://idp2.example' } } },
        'https://c.example': { providers: { third: { clientId: null, issuer: 'https://idp3.example' } } },
        'ftp://not-an-api': { providers: { fourth: { clientId: null, issuer: 'https://idp4.example' } } },
      }),
    )
    writeOpenEoFile(
      dir,
      'refresh-tokens.json',
      refreshTokensJson([
        { issuer: 'https://idp.example', clientId: 'default-client', refreshToken: SECRET },
      ]),
    )
    const config = memoryConfigStore()
    const asked: string[] = []
    const result = await importOpenEo({
      config,
      tokens: memoryTokenStore(),
      from: { configDir: dir, dataDir: dir },
      defaultClients: async (api, id) => {
        asked.push(`${api} ${id}`)
        return api === 'https://b.example' ? [{ clientId: 'adv', grantTypes: ['refresh_token'] }] : undefined
      },
    })
    const providers = (await config.read()).providers
    expect(providers.egi?.client).toEqual({ clientId: 'default-client' }) // from refresh-tokens.json
    expect(providers.other?.defaultClients).toEqual([{ clientId: 'adv', grantTypes: ['refresh_token'] }]) // from the API
    expect(providers.third).toEqual({ issuer: 'https://idp3.example' })
    expect(asked).toEqual(['https://a.example egi', 'https://b.example other', 'https://c.example third'])
    expect(result.skipped).toEqual([
      expect.stringContaining(
        "client of provider third of https://c.example: openEO uses the API's default client",
      ),
      'backend "ftp://not-an-api": not a URL',
    ])
  })

  it('never clobbers what keyfob has without overwrite, and lists every difference', async () => {
    const dir = tempDir()
    writeOpenEoFile(
      dir,
      'auth-config.json',
      authConfigJson({
        'https://openeo.example': {
          basic: { username: 'john', password: 'j0hn123' },
          providers: { egi: { clientId: 'theirs', clientSecret: 'x', issuer: 'https://idp.example' } },
        },
        'https://nopass.example': { basic: { username: 'ann' } },
      }),
    )
    writeOpenEoFile(
      dir,
      'refresh-tokens.json',
      refreshTokensJson([{ issuer: 'https://idp.example', clientId: 'theirs', refreshToken: 'openeo-rt' }]),
    )
    const start = {
      ...emptyConfig(),
      providers: { egi: { issuer: 'https://idp.example', client: { clientId: 'mine' } } },
      apis: { 'https://openeo.example': { basic: { username: 'alice', password: 'a11ce' } } },
    }
    const config = memoryConfigStore(start)
    const tokens = memoryTokenStore()
    await tokens.set(
      { issuer: 'https://idp.example', clientId: 'theirs' },
      { refreshToken: 'keyfob-rt', updatedAt: 1 },
    )
    const from = { configDir: dir, dataDir: dir }
    const kept = await importOpenEo({ config, tokens, from })
    const after = await config.read()
    expect(after.providers.egi?.client).toEqual({ clientId: 'mine' })
    expect(after.apis['https://openeo.example']?.basic).toEqual({ username: 'alice', password: 'a11ce' })
    expect(after.apis['https://nopass.example']?.basic).toBeUndefined()
    expect((await tokens.get({ issuer: 'https://idp.example', clientId: 'theirs' }))?.refreshToken).toBe(
      'keyfob-rt',
    )
    expect(kept.skipped).toEqual([
      'Basic credentials for https://openeo.example: keyfob has alice, openEO has john (kept keyfob’s; import with --overwrite to replace it)',
      'client of provider egi: keyfob has mine, openEO has theirs (kept keyfob’s; import with --overwrite to replace it)',
      'Basic credentials of ann for https://nopass.example: openEO stored no password; run keyfob add-basic https://nopass.example --username ann',
      'refresh token for theirs at https://idp.example: keyfob already has another one (import with --overwrite to replace it)',
    ])
    expect(JSON.stringify(kept)).not.toMatch(/j0hn123|a11ce|openeo-rt|keyfob-rt/)

    const replaced = await importOpenEo({ config, tokens, from, overwrite: true })
    const now = await config.read()
    expect(now.providers.egi?.client).toEqual({ clientId: 'theirs', clientSecret: 'x' })
    expect(now.apis['https://openeo.example']?.basic).toEqual({ username: 'john', password: 'j0hn123' })
    expect((await tokens.get({ issuer: 'https://idp.example', clientId: 'theirs' }))?.refreshToken).toBe(
      'openeo-rt',
    )
    expect(replaced.reports[0].imported).toContain(
      'Basic credentials of john for https://openeo.example (replaced: keyfob has alice, openEO has john)',
    )
  })
})
