/**
 * Import from the openEO Python client: providers, clients and Basic credentials from its
 * `auth-config.json`, refresh tokens from its `refresh-tokens.json` (formats and paths as openEO
 * writes them; see its `openeo/rest/auth/config.py`).
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises'
import { homedir as osHomedir } from 'node:os'
import { join, win32 } from 'node:path'
import {
  type ConfigStore,
  type KeyfobConfig,
  normalizeApiUrl,
  type ProviderEntry,
  type TokenStore,
} from '@keyfob/core'
import { errnoOf, StoreError } from './errors.ts'
import type { PathEnvironment } from './paths.ts'
import { checkPermissions } from './private-json.ts'

/** Where the openEO client keeps its files. */
export interface OpenEoPaths {
  /** The directory of `auth-config.json`. */
  readonly configDir: string
  /** The directory of `refresh-tokens.json`. */
  readonly dataDir: string
}

/**
 * The openEO client's directories: `$OPENEO_CONFIG_HOME` for both when set, else its platform
 * default (`~/.config/openeo-python-client` and `~/.local/share/openeo-python-client` with XDG
 * overrides on Linux; `~/Library/Preferences/…` and `~/Library/…` on macOS; `%APPDATA%\…` on
 * Windows).
 *
 * @param environment - Environment variables, platform and home directory.
 * @returns The two directories.
 * @example
 * ```ts
 * openEoPaths({ env: { OPENEO_CONFIG_HOME: '/x' } }) // { configDir: '/x', dataDir: '/x' }
 * ```
 */
export function openEoPaths(environment: PathEnvironment = {}): OpenEoPaths {
  const env = environment.env ?? process.env
  const platform = environment.platform ?? process.platform
  const home = environment.homedir ?? osHomedir()
  const app = 'openeo-python-client'
  const override = env.OPENEO_CONFIG_HOME
  if (override) return { configDir: override, dataDir: override }
  if (platform === 'win32') {
    const dir = win32.join(env.APPDATA ?? win32.join(home, 'AppData', 'Roaming'), app)
    return { configDir: dir, dataDir: dir }
  }
  if (platform === 'darwin' && !env.XDG_CONFIG_HOME)
    return { configDir: join(home, 'Library', 'Preferences', app), dataDir: join(home, 'Library', app) }
  return {
    configDir: join(env.XDG_CONFIG_HOME || join(home, '.config'), app),
    dataDir: join(env.XDG_DATA_HOME || join(home, '.local', 'share'), app),
  }
}

/** Options of {@link importOpenEo}. */
export interface OpenEoImportOptions {
  /** Where to import into. */
  readonly config: ConfigStore
  /** Where the refresh tokens go. */
  readonly tokens: TokenStore
  /** openEO's directories; default {@link openEoPaths}. */
  readonly from?: OpenEoPaths
  /** Replace tokens keyfob already has for the same issuer and client; default `false`. */
  readonly overwrite?: boolean
  /** The clock, for records without a date; default `Date.now`. */
  readonly now?: () => number
}

/** What {@link importOpenEo} did. */
export interface OpenEoImportResult {
  /** The files read (absent when missing). */
  readonly files: { readonly authConfig?: string; readonly refreshTokens?: string }
  /** Provider ids added or updated. */
  readonly providers: readonly string[]
  /** API URLs added or updated (normalized). */
  readonly apis: readonly string[]
  /** Refresh tokens imported. */
  readonly tokens: number
  /** What was left out, and why (no secrets). */
  readonly skipped: readonly string[]
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

async function readOpenEoFile(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string
  try {
    checkPermissions(path, (await stat(path)).mode)
    text = await readFile(path, 'utf8')
  } catch (error) {
    if (error instanceof StoreError) throw error
    if (errnoOf(error) === 'ENOENT') return undefined
    throw new StoreError('ERR_IMPORT', `cannot read ${path} (${errnoOf(error) ?? 'error'})`, {
      cause: { path },
    })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new StoreError('ERR_IMPORT', `${path} is not valid JSON; openEO cannot read it either`, {
      cause: { path },
    })
  }
  if (!isObject(value))
    throw new StoreError('ERR_IMPORT', `${path} is not a JSON object`, { cause: { path } })
  return value
}

/**
 * Imports the openEO client's configuration and refresh tokens. openEO's files are only read,
 * never changed. Providers keep openEO's ids; each backend URL becomes an API entry (normalized,
 * so `openeo.example` and `https://openeo.example/` are one). A provider without an issuer, or
 * whose id keyfob already uses for another issuer, is skipped and reported.
 *
 * @param options - Target stores, source directories, overwrite policy.
 * @returns What was imported and what was skipped.
 * @throws StoreError `ERR_IMPORT` for unreadable or malformed files (nothing is imported then), `ERR_INSECURE_PERMISSIONS` for a file others may read.
 * @example
 * ```ts
 * import { fileConfigStore, fileTokenStore, importOpenEo } from '@keyfob/store'
 * const result = await importOpenEo({ config: fileConfigStore(), tokens: fileTokenStore() })
 * console.log(`${result.tokens} refresh tokens imported`)
 * ```
 */
export async function importOpenEo(options: OpenEoImportOptions): Promise<OpenEoImportResult> {
  const from = options.from ?? openEoPaths()
  const authPath = join(from.configDir, 'auth-config.json')
  const tokensPath = join(from.dataDir, 'refresh-tokens.json')
  const auth = await readOpenEoFile(authPath)
  const refresh = await readOpenEoFile(tokensPath)
  if (!auth && !refresh)
    throw new StoreError(
      'ERR_IMPORT',
      `found neither ${authPath} nor ${tokensPath}; pass the openEO config directory`,
      {
        cause: { authPath, tokensPath },
      },
    )
  const skipped: string[] = []
  const providers = new Set<string>()
  const apis = new Set<string>()
  const backends = isObject(auth?.backends) ? auth.backends : {}
  await options.config.update((current) => {
    let config: KeyfobConfig = current
    for (const [url, backend] of Object.entries(backends)) {
      if (!isObject(backend)) continue
      let api: string
      try {
        api = normalizeApiUrl(url)
      } catch {
        skipped.push(`backend ${JSON.stringify(url)}: not a URL`)
        continue
      }
      const entry = { ...config.apis[api] }
      const basic = backend.basic
      if (isObject(basic) && typeof basic.username === 'string' && typeof basic.password === 'string')
        Object.assign(entry, { basic: { username: basic.username, password: basic.password } })
      const listed = new Set(entry.providers ?? [])
      const oidc = isObject(backend.oidc) && isObject(backend.oidc.providers) ? backend.oidc.providers : {}
      for (const [id, raw] of Object.entries(oidc)) {
        if (!isObject(raw)) continue
        if (typeof raw.issuer !== 'string' || !URL.canParse(raw.issuer)) {
          skipped.push(`provider ${id} of ${api}: no issuer recorded; run keyfob add-oidc ${api}`)
          continue
        }
        const issuer = raw.issuer.replace(/\/+$/, '')
        const existing = config.providers[id]
        if (existing && existing.issuer.replace(/\/+$/, '') !== issuer) {
          skipped.push(`provider ${id} of ${api}: keyfob already has ${id} for ${existing.issuer}`)
          continue
        }
        const provider: ProviderEntry = {
          ...existing,
          issuer: existing?.issuer ?? issuer,
          ...(typeof raw.client_id === 'string' && raw.client_id !== ''
            ? {
                client: {
                  clientId: raw.client_id,
                  ...(typeof raw.client_secret === 'string' && raw.client_secret !== ''
                    ? { clientSecret: raw.client_secret }
                    : {}),
                },
              }
            : {}),
        }
        config = { ...config, providers: { ...config.providers, [id]: provider } }
        providers.add(id)
        listed.add(id)
      }
      if (listed.size) Object.assign(entry, { providers: [...listed] })
      config = { ...config, apis: { ...config.apis, [api]: entry } }
      apis.add(api)
    }
    return config
  })
  let tokens = 0
  const now = options.now ?? Date.now
  for (const [issuer, clients] of Object.entries(refresh ?? {})) {
    if (!isObject(clients)) continue
    for (const [clientId, raw] of Object.entries(clients)) {
      if (!isObject(raw) || typeof raw.refresh_token !== 'string' || raw.refresh_token === '') continue
      const key = { issuer: issuer.replace(/\/+$/, ''), clientId }
      if (!options.overwrite && (await options.tokens.get(key))?.refreshToken !== undefined) {
        skipped.push(
          `refresh token for ${clientId} at ${key.issuer}: keyfob already has one (import with overwrite to replace it)`,
        )
        continue
      }
      const date = typeof raw.date === 'string' ? Date.parse(raw.date) : Number.NaN
      await options.tokens.set(key, {
        refreshToken: raw.refresh_token,
        updatedAt: Number.isNaN(date) ? now() : date,
      })
      tokens += 1
    }
  }
  return {
    files: { ...(auth ? { authConfig: authPath } : {}), ...(refresh ? { refreshTokens: tokensPath } : {}) },
    providers: [...providers],
    apis: [...apis],
    tokens,
    skipped,
  }
}
