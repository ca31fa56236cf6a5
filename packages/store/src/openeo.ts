/**
 * Import from the openEO Python client: providers, clients and Basic credentials from its
 * `auth-config.json`, refresh tokens from its `refresh-tokens.json` (formats and paths as openEO
 * writes them; see its `openeo/rest/auth/config.py`).
 *
 * @module
 */
import { statSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { homedir as osHomedir } from 'node:os'
import { join, posix, win32 } from 'node:path'
import {
  type ApiEntry,
  type ClientEntry,
  type ConfigStore,
  isProviderId,
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

/** Where to look for openEO's two files, highest priority first. */
export interface OpenEoSearchPaths {
  /** Directories that may hold `auth-config.json`. */
  readonly configDirs: readonly string[]
  /** Directories that may hold `refresh-tokens.json`. */
  readonly dataDirs: readonly string[]
}

const APP = 'openeo-python-client'

/**
 * The openEO client's candidate directories for one kind of file, highest priority first, exactly
 * as its `openeo/config.py` (`_get_user_dir`, `get_user_config_dir`, `get_user_data_dir`) lists
 * them: `$OPENEO_CONFIG_HOME` as-is (both kinds), then on Windows `%APPDATA%\openeo-python-client`,
 * `~\AppData\Roaming\openeo-python-client`, `~/.config/…` (config) or `~/.local/share/…` (data);
 * on macOS `$XDG_CONFIG_HOME/…` or `$XDG_DATA_HOME/…`, `~/Library/Preferences/…` (config) or
 * `~/Library/…` (data), then the XDG fallback; elsewhere `$XDG_CONFIG_HOME/…` or
 * `$XDG_DATA_HOME/…`, then `~/.config/…` or `~/.local/share/…`.
 *
 * @param kind - `config` for `auth-config.json`, `data` for `refresh-tokens.json`.
 * @param environment - Environment variables, platform and home directory.
 * @returns The candidates, without duplicates.
 * @example
 * ```ts
 * openEoCandidates('data', { platform: 'win32', env: { APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, homedir: 'C:\\Users\\a' })
 * // ['C:\\Users\\a\\AppData\\Roaming\\openeo-python-client', 'C:\\Users\\a\\.local\\share\\openeo-python-client']
 * ```
 */
export function openEoCandidates(kind: 'config' | 'data', environment: PathEnvironment = {}): string[] {
  const env = environment.env ?? process.env
  const platform = environment.platform ?? process.platform
  const home = environment.homedir ?? osHomedir()
  const path = platform === 'win32' ? win32 : posix
  const set = (name: string) => (env[name] ? env[name] : undefined)
  const fallback = kind === 'config' ? path.join(home, '.config') : path.join(home, '.local', 'share')
  const roots =
    platform === 'win32'
      ? [set('APPDATA'), path.join(home, 'AppData', 'Roaming'), fallback]
      : platform === 'darwin'
        ? [
            set(kind === 'config' ? 'XDG_CONFIG_HOME' : 'XDG_DATA_HOME'),
            kind === 'config' ? path.join(home, 'Library', 'Preferences') : path.join(home, 'Library'),
            fallback,
          ]
        : [set(kind === 'config' ? 'XDG_CONFIG_HOME' : 'XDG_DATA_HOME'), fallback]
  const dirs = roots.filter((r): r is string => r !== undefined).map((r) => path.join(r, APP))
  const override = set('OPENEO_CONFIG_HOME')
  return [...new Set(override ? [override, ...dirs] : dirs)]
}

const isDir = (dir: string): boolean => {
  try {
    return statSync(dir).isDirectory()
  } catch {
    return false
  }
}

/**
 * The openEO client's directories as it picks them: per kind, the first candidate of
 * {@link openEoCandidates} that exists as a directory, else the first candidate (openEO would
 * create it there). Nothing is created.
 *
 * @param environment - Environment variables, platform and home directory.
 * @returns The two directories.
 * @example
 * ```ts
 * openEoPaths({ env: { OPENEO_CONFIG_HOME: '/x' } }) // { configDir: '/x', dataDir: '/x' }
 * ```
 */
export function openEoPaths(environment: PathEnvironment = {}): OpenEoPaths {
  const pick = (dirs: string[]) => dirs.find(isDir) ?? (dirs[0] as string)
  return {
    configDir: pick(openEoCandidates('config', environment)),
    dataDir: pick(openEoCandidates('data', environment)),
  }
}

/**
 * Where {@link importOpenEo} looks, given what the user said: `configFrom`/`dataFrom` name one
 * directory each (only that one is searched); `from` names a directory searched first for both
 * files (openEO's config or data directory, or one holding both), then openEO's own candidates.
 * Without any, openEO's candidates ({@link openEoCandidates}).
 *
 * @param sources - `from`, `configFrom`, `dataFrom` as given on the command line.
 * @param environment - Environment variables, platform and home directory.
 * @returns The directories to search for each file, highest priority first.
 * @example
 * ```ts
 * const search = openEoSearchPaths({ from: '/home/a/.config/openeo-python-client' })
 * const result = await importOpenEo({ config, tokens, search })
 * ```
 */
export function openEoSearchPaths(
  sources: { readonly from?: string; readonly configFrom?: string; readonly dataFrom?: string } = {},
  environment: PathEnvironment = {},
): OpenEoSearchPaths {
  const list = (only: string | undefined, kind: 'config' | 'data') =>
    only !== undefined
      ? [only]
      : [
          ...new Set([
            ...(sources.from !== undefined ? [sources.from] : []),
            ...openEoCandidates(kind, environment),
          ]),
        ]
  return { configDirs: list(sources.configFrom, 'config'), dataDirs: list(sources.dataFrom, 'data') }
}

/** Options of {@link importOpenEo}. */
export interface OpenEoImportOptions {
  /** Where to import into. */
  readonly config: ConfigStore
  /** Where the refresh tokens go. */
  readonly tokens: TokenStore
  /** openEO's exact directories (one each). */
  readonly from?: OpenEoPaths
  /** Directories to search, in order; default {@link openEoSearchPaths} (ignored when `from` is given). */
  readonly search?: OpenEoSearchPaths
  /** Replace what keyfob already has (Basic credentials, clients, refresh tokens) when openEO's differs; default `false`: keep it and list the difference. */
  readonly overwrite?: boolean
  /** The clock, for records without a date; default `Date.now`. */
  readonly now?: () => number
  /**
   * The default clients an openEO API advertises for a provider (its `/credentials/oidc`), for
   * providers openEO stored with `client_id: null` (`openeo-auth add-oidc --use-default-client`).
   * Resolve `undefined` when the API cannot be reached; the import then says so.
   */
  readonly defaultClients?: (
    apiUrl: string,
    providerId: string,
  ) => Promise<readonly ClientEntry[] | undefined>
}

/** What {@link importOpenEo} did with one of openEO's files. */
export interface OpenEoFileReport {
  /** `auth-config.json` or `refresh-tokens.json`. */
  readonly file: string
  /** Where it was found, or `null`. */
  readonly path: string | null
  /** Where it was looked for, in order. */
  readonly searched: readonly string[]
  /** One line per thing imported (no secrets). */
  readonly imported: readonly string[]
  /** One line per thing left out or kept different, and why (no secrets). */
  readonly skipped: readonly string[]
}

/** What {@link importOpenEo} did. */
export interface OpenEoImportResult {
  /** The files read (absent when missing). */
  readonly files: { readonly authConfig?: string; readonly refreshTokens?: string }
  /** Per file: where it was, what was imported, what was skipped. */
  readonly reports: readonly [OpenEoFileReport, OpenEoFileReport]
  /** Provider ids added or updated. */
  readonly providers: readonly string[]
  /** API URLs added or updated (normalized). */
  readonly apis: readonly string[]
  /** Refresh tokens imported. */
  readonly tokens: number
  /** Everything left out, from both files (no secrets). */
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

/** The first `dir/name` that exists, among `dirs`. */
async function locate(dirs: readonly string[], name: string): Promise<string | undefined> {
  for (const dir of dirs) {
    const path = join(dir, name)
    try {
      if ((await stat(path)).isFile()) return path
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT' && errnoOf(error) !== 'ENOTDIR') return path // let the read say why
    }
  }
  return undefined
}

const trim = (url: string) => url.replace(/\/+$/, '')

/** A provider id for an issuer keyfob has no provider for: its host name, made unique. */
function idFor(issuer: string, taken: Readonly<Record<string, ProviderEntry>>): string {
  const host = new URL(issuer).hostname.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '')
  const base = isProviderId(host) ? host : 'openeo'
  let id = base
  for (let n = 2; Object.hasOwn(taken, id) && trim(taken[id]?.issuer ?? '') !== issuer; n++)
    id = `${base}-${n}`
  return id
}

const sameClient = (a: ClientEntry | undefined, b: ClientEntry | undefined) =>
  a?.clientId === b?.clientId && a?.clientSecret === b?.clientSecret

interface Plan {
  config: KeyfobConfig
  auth: { imported: string[]; skipped: string[] }
  refresh: { imported: string[]; skipped: string[] }
  providers: Set<string>
  apis: Set<string>
}

/** The configuration after the import: a pure function of the current one and openEO's files. */
function plan(
  current: KeyfobConfig,
  auth: Record<string, unknown> | undefined,
  refresh: Record<string, unknown> | undefined,
  advertised: ReadonlyMap<string, readonly ClientEntry[] | undefined>,
  overwrite: boolean,
): Plan {
  let config = current
  const out: Plan = {
    config,
    auth: { imported: [], skipped: [] },
    refresh: { imported: [], skipped: [] },
    providers: new Set(),
    apis: new Set(),
  }
  const keep = overwrite ? '' : ' (kept keyfob’s; import with --overwrite to replace it)'
  const setProvider = (id: string, provider: ProviderEntry) => {
    config = { ...config, providers: { ...config.providers, [id]: provider } }
    out.providers.add(id)
  }
  // The client ids openEO holds refresh tokens for, per issuer: they name a default client.
  const tokenClients = new Map<string, string[]>()
  for (const [issuer, clients] of Object.entries(refresh ?? {}))
    if (isObject(clients)) tokenClients.set(trim(issuer), Object.keys(clients))

  const backends = isObject(auth?.backends) ? auth.backends : {}
  for (const [url, backend] of Object.entries(backends)) {
    if (!isObject(backend)) continue
    let api: string
    try {
      api = normalizeApiUrl(url)
    } catch {
      out.auth.skipped.push(`backend ${JSON.stringify(url)}: not a URL`)
      continue
    }
    const entry: { -readonly [K in keyof ApiEntry]: ApiEntry[K] } = { ...config.apis[api] }
    const basic = backend.basic
    if (isObject(basic) && typeof basic.username === 'string' && basic.username !== '') {
      const username = basic.username
      if (typeof basic.password !== 'string' || basic.password === '')
        out.auth.skipped.push(
          `Basic credentials of ${username} for ${api}: openEO stored no password; run keyfob add-basic ${api} --username ${username}`,
        )
      else if (entry.basic === undefined) {
        entry.basic = { username, password: basic.password }
        out.auth.imported.push(`Basic credentials of ${username} for ${api}`)
      } else if (entry.basic.username !== username || entry.basic.password !== basic.password) {
        const what =
          entry.basic.username !== username
            ? `keyfob has ${entry.basic.username}, openEO has ${username}`
            : `keyfob and openEO have different passwords for ${username}`
        if (overwrite) {
          entry.basic = { username, password: basic.password }
          out.auth.imported.push(`Basic credentials of ${username} for ${api} (replaced: ${what})`)
        } else out.auth.skipped.push(`Basic credentials for ${api}: ${what}${keep}`)
      }
    }
    const listed = new Set(entry.providers ?? [])
    const oidc = isObject(backend.oidc) && isObject(backend.oidc.providers) ? backend.oidc.providers : {}
    for (const [id, raw] of Object.entries(oidc)) {
      if (!isObject(raw)) continue
      if (!isProviderId(id)) {
        out.auth.skipped.push(`provider ${JSON.stringify(id)} of ${api}: not a valid provider id`)
        continue
      }
      if (typeof raw.issuer !== 'string' || !URL.canParse(raw.issuer)) {
        out.auth.skipped.push(`provider ${id} of ${api}: no issuer recorded; run keyfob add-oidc ${api}`)
        continue
      }
      const issuer = trim(raw.issuer)
      const existing = config.providers[id]
      if (existing && trim(existing.issuer) !== issuer) {
        out.auth.skipped.push(`provider ${id} of ${api}: keyfob already has ${id} for ${existing.issuer}`)
        continue
      }
      let provider: ProviderEntry = existing ?? { issuer }
      let client: ClientEntry | undefined
      if (typeof raw.client_id === 'string' && raw.client_id !== '')
        client = {
          clientId: raw.client_id,
          ...(typeof raw.client_secret === 'string' && raw.client_secret !== ''
            ? { clientSecret: raw.client_secret }
            : {}),
        }
      else {
        // openEO's "use the default client" (client_id: null): the API's default clients, else the
        // client its refresh token was issued to.
        const defaults = advertised.get(`${api} ${id}`)
        const fromTokens = tokenClients.get(issuer) ?? []
        if (defaults?.length) {
          if (!sameJson(provider.defaultClients, defaults)) {
            provider = { ...provider, defaultClients: defaults }
            out.auth.imported.push(
              `default clients of provider ${id} (${defaults.map((c) => c.clientId).join(', ')}, from ${api}/credentials/oidc)`,
            )
          }
        } else if (fromTokens.length === 1) client = { clientId: fromTokens[0] as string }
        else if (!provider.client && !provider.defaultClients?.length)
          out.auth.skipped.push(
            `client of provider ${id} of ${api}: openEO uses the API's default client, and its id is unknown (the API is unreachable and refresh-tokens.json names ${fromTokens.length === 0 ? 'no client' : 'several clients'} for ${issuer}); run keyfob add-oidc ${api} --provider-id ${id} --use-default-client`,
          )
      }
      if (client && !sameClient(provider.client, client)) {
        if (provider.client === undefined) {
          provider = { ...provider, client }
          out.auth.imported.push(`client ${client.clientId} of provider ${id}`)
        } else if (overwrite) {
          out.auth.imported.push(
            `client ${client.clientId} of provider ${id} (replaced ${provider.client.clientId})`,
          )
          provider = { ...provider, client }
        } else
          out.auth.skipped.push(
            `client of provider ${id}: keyfob has ${provider.client.clientId}${provider.client.clientId === client.clientId ? ' with another secret' : `, openEO has ${client.clientId}`}${keep}`,
          )
      }
      if (!existing) out.auth.imported.push(`provider ${id} (issuer ${issuer}) for ${api}`)
      setProvider(id, provider)
      listed.add(id)
    }
    if (listed.size) entry.providers = [...listed]
    if (Object.keys(entry).length === 0) continue // nothing usable: no API entry either
    if (!sameJson(config.apis[api], entry)) {
      config = { ...config, apis: { ...config.apis, [api]: entry } }
      if (!current.apis[api]) out.auth.imported.push(`API ${api}`)
    }
    out.apis.add(api)
  }

  // refresh-tokens.json alone is enough: its issuers and client ids make providers and clients.
  for (const [rawIssuer, clients] of Object.entries(refresh ?? {})) {
    if (!isObject(clients) || !URL.canParse(rawIssuer)) continue
    const issuer = trim(rawIssuer)
    const ids = Object.keys(clients).filter((c) => isObject(clients[c]))
    const known = Object.entries(config.providers).find(([, p]) => trim(p.issuer) === issuer)
    if (!known) {
      const id = idFor(issuer, config.providers)
      const only = ids.length === 1 ? { client: { clientId: ids[0] as string } } : {}
      setProvider(id, { issuer, ...only })
      out.refresh.imported.push(
        `provider ${id} (issuer ${issuer}${ids.length === 1 ? `, client ${ids[0]}` : ''}), made from the refresh token's issuer`,
      )
    } else if (!known[1].client && !known[1].defaultClients?.length && ids.length === 1) {
      setProvider(known[0], { ...known[1], client: { clientId: ids[0] as string } })
      out.refresh.imported.push(`client ${ids[0]} of provider ${known[0]} (from its refresh token)`)
    }
  }
  out.config = config
  return out
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * Imports the openEO client's configuration and refresh tokens. openEO's files are only read,
 * never changed, and each is looked for in every directory of the search (so `from` may name
 * either of openEO's directories). Providers keep openEO's ids; each backend URL becomes an API
 * entry (normalized, so `openeo.example` and `https://openeo.example/` are one). A refresh token
 * whose issuer keyfob has no provider for gets one (named after the issuer's host) with the
 * token's client. Without `overwrite`, nothing keyfob already has changes: every difference is
 * listed in the report.
 *
 * @param options - Target stores, where to look, overwrite policy, default-client lookup.
 * @returns Per file: where it was found, what was imported, what was skipped.
 * @throws StoreError `ERR_IMPORT` when neither file is found or one is unreadable or malformed (nothing is imported then), `ERR_INSECURE_PERMISSIONS` for a file others may read.
 * @example
 * ```ts
 * import { fileConfigStore, fileTokenStore, importOpenEo } from '@keyfob/store'
 * const result = await importOpenEo({ config: fileConfigStore(), tokens: fileTokenStore() })
 * for (const report of result.reports) console.log(report.file, report.path, report.imported, report.skipped)
 * ```
 */
export async function importOpenEo(options: OpenEoImportOptions): Promise<OpenEoImportResult> {
  const search: OpenEoSearchPaths = options.from
    ? { configDirs: [options.from.configDir], dataDirs: [options.from.dataDir] }
    : (options.search ?? openEoSearchPaths())
  const authPath = await locate(search.configDirs, 'auth-config.json')
  const tokensPath = await locate(search.dataDirs, 'refresh-tokens.json')
  const auth = authPath === undefined ? undefined : await readOpenEoFile(authPath)
  const refresh = tokensPath === undefined ? undefined : await readOpenEoFile(tokensPath)
  if (!auth && !refresh) {
    const looked = [
      ...search.configDirs.map((d) => join(d, 'auth-config.json')),
      ...search.dataDirs.map((d) => join(d, 'refresh-tokens.json')),
    ]
    throw new StoreError(
      'ERR_IMPORT',
      `found no openEO file; looked for ${looked.join(', ')}; pass the directory that holds them`,
      { cause: { searched: looked } },
    )
  }
  // The default clients of providers openEO keeps with client_id: null, asked for before the
  // (locked) update.
  const advertised = new Map<string, readonly ClientEntry[] | undefined>()
  if (options.defaultClients && isObject(auth?.backends))
    for (const [url, backend] of Object.entries(auth.backends)) {
      const providers = isObject(backend) && isObject(backend.oidc) ? backend.oidc.providers : undefined
      let api: string
      try {
        api = normalizeApiUrl(url)
      } catch {
        continue // the plan reports it
      }
      if (!isObject(providers)) continue
      for (const [id, raw] of Object.entries(providers))
        if (isObject(raw) && (raw.client_id === null || raw.client_id === undefined || raw.client_id === ''))
          advertised.set(`${api} ${id}`, await options.defaultClients(api, id).catch(() => undefined))
    }
  let result: Plan | undefined
  await options.config.update((current) => {
    result = plan(current, auth, refresh, advertised, options.overwrite === true)
    return result.config
  })
  const done = result as Plan
  let tokens = 0
  const now = options.now ?? Date.now
  for (const [rawIssuer, clients] of Object.entries(refresh ?? {})) {
    if (!isObject(clients)) continue
    const issuer = trim(rawIssuer)
    const provider = Object.values(done.config.providers).find((p) => trim(p.issuer) === issuer)
    for (const [clientId, raw] of Object.entries(clients)) {
      if (!isObject(raw) || typeof raw.refresh_token !== 'string' || raw.refresh_token === '') {
        done.refresh.skipped.push(`entry for ${clientId} at ${issuer}: no refresh token in it`)
        continue
      }
      const key = { issuer: provider?.issuer ?? issuer, clientId }
      const date = typeof raw.date === 'string' ? Date.parse(raw.date) : Number.NaN
      const refreshToken = raw.refresh_token
      // One atomic read-modify-write: a login made while the import runs is never lost.
      let existing: string | undefined
      let written = false
      await options.tokens.update(key, (current) => {
        existing = current?.refreshToken
        if (existing === refreshToken || (existing !== undefined && !options.overwrite)) return current
        written = true
        return { refreshToken, updatedAt: Number.isNaN(date) ? now() : date }
      })
      if (!written) {
        if (existing !== refreshToken)
          done.refresh.skipped.push(
            `refresh token for ${clientId} at ${key.issuer}: keyfob already has another one (import with --overwrite to replace it)`,
          )
        continue
      }
      done.refresh.imported.push(
        `refresh token for ${clientId} at ${key.issuer}${existing !== undefined ? ' (replaced keyfob’s)' : ''}`,
      )
      tokens += 1
    }
  }
  const reports: [OpenEoFileReport, OpenEoFileReport] = [
    {
      file: 'auth-config.json',
      path: authPath ?? null,
      searched: search.configDirs.map((d) => join(d, 'auth-config.json')),
      ...done.auth,
    },
    {
      file: 'refresh-tokens.json',
      path: tokensPath ?? null,
      searched: search.dataDirs.map((d) => join(d, 'refresh-tokens.json')),
      ...done.refresh,
    },
  ]
  return {
    files: {
      ...(authPath ? { authConfig: authPath } : {}),
      ...(tokensPath ? { refreshTokens: tokensPath } : {}),
    },
    reports,
    providers: [...done.providers],
    apis: [...done.apis],
    tokens,
    skipped: [...done.auth.skipped, ...done.refresh.skipped],
  }
}
