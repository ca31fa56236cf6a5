/** Settings from flags, environment, an env file and a config file, with one precedence. @module */
import { parse as parseDotenv } from 'dotenv'
import { GatewayError } from './errors.ts'

/** How several authentication modes combine (the guard's `combine`). */
export type Combine = 'first-present' | 'all'

/** Everything the gateway runs with, after all sources are merged and checked. */
export interface GatewaySettings {
  /** The upstream base URL, e.g. `http://127.0.0.1:5000`. */
  readonly upstream: string
  /** The path prefix the upstream is served under (`/geoapi`), or `''` for the root. */
  readonly mount: string
  /** The port to listen on; default 8080. */
  readonly port: number
  /** The address to listen on; default `127.0.0.1`. */
  readonly hostname: string
  /** API-key mode: keys are the values of every variable with this prefix (fastgeoapi's `PYGEOAPI_KEY_`). */
  readonly apiKeyEnvPrefix?: string
  /** The API-key header; default `X-API-KEY`. */
  readonly apiKeyHeader: string
  /** JWT mode: the expected `iss` (and, without `jwksUrl`, where discovery starts). */
  readonly jwtIssuer?: string
  /** JWT mode: the expected audiences. */
  readonly jwtAudience?: readonly string[]
  /** JWT mode: the JWKS URL (default: from the issuer's discovery document). */
  readonly jwksUrl?: string
  /** JWT mode: accepted algorithms (default the guard's). */
  readonly jwtAlgorithms?: readonly string[]
  /** The token endpoint advertised in the OpenAPI `oauth2` client-credentials scheme. */
  readonly tokenUrl?: string
  /** OIDC mode: the issuer (discovery, JWKS, introspection). */
  readonly oidcIssuer?: string
  /** OIDC mode: the expected audiences. */
  readonly oidcAudience?: readonly string[]
  /** OIDC mode: the client id for RFC 7662 introspection of opaque tokens. */
  readonly introspectionClientId?: string
  /** OIDC mode: its secret (from the environment or a file, never a flag others can `ps`). */
  readonly introspectionClientSecret?: string
  /** How two or more modes combine; required when there are two or more. */
  readonly combine?: Combine
  /** Scopes every protected request must carry. */
  readonly scopes?: readonly string[]
  /**
   * Claims every protected request must carry: `name=value` (equal, or contained in an array
   * claim) or `name=a|b` (one of); `true` and `false` are booleans.
   */
  readonly claims?: readonly string[]
  /** A file of Cedar policies: every protected request is also decided by them, in process. */
  readonly cedarPolicies?: string
  /** OPA's base URL: every protected request is also decided by OPA. */
  readonly opaUrl?: string
  /** The OPA decision path; default `httpapi/authz`. */
  readonly opaPath: string
  /**
   * OPA's input document. `keyfob` (default): the verified token's claims at the top level, the
   * path relative to the mount in `request_path`, and a `guard` block. `fastgeoapi`: what
   * fastgeoapi's OPA mode (fastapi-opa) sends: the IdP's userinfo answer for the caller's token at
   * the top level (needs `--oidc-issuer`), `request_method`, and `request_path` as the whole path
   * split on `/` (mount segment included, `""` for a trailing slash), plus the `guard` block.
   */
  readonly opaInput: 'keyfob' | 'fastgeoapi'
  /** Public paths relative to the mount (`GET /openapi`); default the landing page, OpenAPI and conformance. */
  readonly public: readonly string[]
  /** Start without any mode: every request is forwarded unauthenticated. */
  readonly allowUnauthenticated: boolean
  /** Forward `Authorization` and the API-key header to the upstream; default `false`. */
  readonly forwardCredential: boolean
  /** Header carrying the verified subject to the upstream (`''` turns it off). */
  readonly subjectHeader: string
  /** Header carrying the granted scopes, space separated (`''` turns it off). */
  readonly scopesHeader: string
  /** Header carrying the client id (`''` turns it off). */
  readonly clientIdHeader: string
  /** Header carrying the API key's id, never the key (`''` turns it off). */
  readonly keyIdHeader: string
  /** Answer 504 when the upstream sends no response headers within this long; default 30 000 ms. */
  readonly upstreamTimeoutMs: number
  /** Let in-flight requests finish this long after SIGTERM; default 10 000 ms. */
  readonly shutdownTimeoutMs: number
  /** Allow plain-http IdP and JWKS URLs off loopback. */
  readonly allowHttp: boolean
  /** Worker processes (node:cluster, Node only); default 1. */
  readonly workers: number
  /** One JSON access-log line per request on stdout; default `true`. */
  readonly accessLog: boolean
  /** This API's resource identifier (RFC 9728), e.g. `https://api.example/geoapi`. */
  readonly resource?: string
  /** The upstream's OpenAPI path, relative to the mount; default `/openapi`. */
  readonly openapiPath: string
  /** JWT and OIDC modes accept DPoP-bound tokens (`Authorization: DPoP` with a `DPoP` proof, RFC 9449) next to Bearer. */
  readonly dpop: boolean
  /** Only DPoP-bound tokens: `Bearer` is refused (implies `dpop`). */
  readonly dpopRequired: boolean
  /** Hand out DPoP nonces (RFC 9449 §9) and accept only proofs with a recent one. */
  readonly dpopNonce: boolean
  /**
   * The secret DPoP nonces are derived from (at least 32 characters), the same on every instance;
   * give it in the environment (`KEYFOB_GUARD_DPOP_NONCE_SECRET`). Without it one process makes
   * a random one, and `--workers` share the primary's.
   */
  readonly dpopNonceSecret?: string
  /**
   * The origin clients call the gateway at (`https://api.example`), for the DPoP proof's `htu`
   * behind a TLS terminator or load balancer; default the URL the gateway received.
   */
  readonly publicOrigin?: string
  /** The environment API keys are read from (files, then the process environment). */
  readonly env: Readonly<Record<string, string | undefined>>
}

type Kind = 'string' | 'list' | 'number' | 'boolean'

interface Option {
  readonly key: keyof GatewaySettings
  readonly kind: Kind
  readonly help: string
}

/** The settings a flag, variable or config-file key can carry, in `--help` order. */
const OPTIONS: readonly Option[] = [
  { key: 'upstream', kind: 'string', help: 'the API to protect, e.g. http://127.0.0.1:5000 (required)' },
  {
    key: 'mount',
    kind: 'string',
    help: 'serve the upstream under this path, e.g. /geoapi (stripped before forwarding)',
  },
  { key: 'port', kind: 'number', help: 'port to listen on (default 8080)' },
  { key: 'hostname', kind: 'string', help: 'address to listen on (default 127.0.0.1)' },
  {
    key: 'apiKeyEnvPrefix',
    kind: 'string',
    help: 'API-key mode: keys are the variables with this prefix, e.g. PYGEOAPI_KEY_',
  },
  { key: 'apiKeyHeader', kind: 'string', help: 'the API-key header (default X-API-KEY)' },
  {
    key: 'jwtIssuer',
    kind: 'string',
    help: 'JWT mode: the expected iss; without --jwks-url also where discovery starts',
  },
  { key: 'jwtAudience', kind: 'list', help: 'JWT mode: the expected aud (comma separated)' },
  { key: 'jwksUrl', kind: 'string', help: 'JWT mode: the JWKS URL (default from discovery)' },
  {
    key: 'jwtAlgorithms',
    kind: 'list',
    help: 'JWT mode: accepted algorithms (default RS256,PS256,ES256,EdDSA)',
  },
  {
    key: 'tokenUrl',
    kind: 'string',
    help: 'token endpoint for the OpenAPI oauth2 client-credentials scheme',
  },
  { key: 'oidcIssuer', kind: 'string', help: 'OIDC mode: the issuer (discovery, JWKS, introspection)' },
  { key: 'oidcAudience', kind: 'list', help: 'OIDC mode: the expected aud (comma separated)' },
  { key: 'introspectionClientId', kind: 'string', help: 'OIDC mode: client id for RFC 7662 introspection' },
  {
    key: 'introspectionClientSecret',
    kind: 'string',
    help: 'OIDC mode: its secret (prefer the environment)',
  },
  { key: 'combine', kind: 'string', help: 'how two or more modes combine: first-present or all' },
  { key: 'scopes', kind: 'list', help: 'scopes every protected request needs (comma separated)' },
  {
    key: 'claims',
    kind: 'list',
    help: "claims every protected request needs: 'company=acme,roles=admin|editor'",
  },
  {
    key: 'cedarPolicies',
    kind: 'string',
    help: 'decide every protected request with the Cedar policies in this file (needs @cedar-policy/cedar-wasm)',
  },
  { key: 'opaUrl', kind: 'string', help: 'decide every protected request with OPA at this URL' },
  { key: 'opaPath', kind: 'string', help: 'the OPA decision path (default httpapi/authz)' },
  {
    key: 'opaInput',
    kind: 'string',
    help: "OPA's input: keyfob (token claims, path under the mount; default) or fastgeoapi (userinfo claims, whole path)",
  },
  {
    key: 'public',
    kind: 'list',
    help: "public paths under the mount (default 'GET /,GET /openapi,GET /conformance')",
  },
  { key: 'allowUnauthenticated', kind: 'boolean', help: 'start without any mode (an open API, said loudly)' },
  {
    key: 'forwardCredential',
    kind: 'boolean',
    help: 'forward Authorization and the API-key header upstream',
  },
  {
    key: 'subjectHeader',
    kind: 'string',
    help: "subject header to the upstream (default X-Auth-Request-User, '' = off)",
  },
  { key: 'scopesHeader', kind: 'string', help: "scopes header (default X-Auth-Request-Scopes, '' = off)" },
  {
    key: 'clientIdHeader',
    kind: 'string',
    help: "client id header (default X-Auth-Request-Client-Id, '' = off)",
  },
  { key: 'keyIdHeader', kind: 'string', help: "API key id header (default X-Auth-Request-Key-Id, '' = off)" },
  {
    key: 'upstreamTimeoutMs',
    kind: 'number',
    help: 'answer 504 after this long without upstream headers (default 30000)',
  },
  {
    key: 'shutdownTimeoutMs',
    kind: 'number',
    help: 'grace for in-flight requests after SIGTERM (default 10000)',
  },
  { key: 'allowHttp', kind: 'boolean', help: 'allow plain-http IdP URLs off loopback' },
  { key: 'workers', kind: 'number', help: 'worker processes (node:cluster, Node only; default 1)' },
  { key: 'accessLog', kind: 'boolean', help: 'JSON access log on stdout (default true; --no-access-log)' },
  { key: 'resource', kind: 'string', help: "this API's resource identifier for RFC 9728 metadata" },
  {
    key: 'openapiPath',
    kind: 'string',
    help: "the upstream's OpenAPI path under the mount (default /openapi)",
  },
  {
    key: 'dpop',
    kind: 'boolean',
    help: 'JWT/OIDC modes: accept DPoP-bound tokens with a DPoP proof (RFC 9449)',
  },
  {
    key: 'dpopRequired',
    kind: 'boolean',
    help: 'JWT/OIDC modes: accept only DPoP-bound tokens (implies --dpop)',
  },
  { key: 'dpopNonce', kind: 'boolean', help: 'hand out DPoP nonces and require them in proofs' },
  {
    key: 'dpopNonceSecret',
    kind: 'string',
    help: 'the shared nonce secret, >= 32 characters (set KEYFOB_GUARD_DPOP_NONCE_SECRET, not a flag)',
  },
  {
    key: 'publicOrigin',
    kind: 'string',
    help: 'the origin clients call, e.g. https://api.example (DPoP htu behind a proxy)',
  },
]

const DEFAULTS = {
  mount: '',
  port: 8080,
  hostname: '127.0.0.1',
  apiKeyHeader: 'X-API-KEY',
  opaPath: 'httpapi/authz',
  opaInput: 'keyfob',
  public: ['GET /', 'GET /openapi', 'GET /conformance'],
  allowUnauthenticated: false,
  forwardCredential: false,
  subjectHeader: 'X-Auth-Request-User',
  scopesHeader: 'X-Auth-Request-Scopes',
  clientIdHeader: 'X-Auth-Request-Client-Id',
  keyIdHeader: 'X-Auth-Request-Key-Id',
  upstreamTimeoutMs: 30_000,
  shutdownTimeoutMs: 10_000,
  allowHttp: false,
  workers: 1,
  accessLog: true,
  openapiPath: '/openapi',
  dpop: false,
  dpopRequired: false,
  dpopNonce: false,
} as const

/** `jwtIssuer` → `--jwt-issuer`. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`
}

/** `jwtIssuer` → `KEYFOB_GUARD_JWT_ISSUER`. */
export function envOf(key: string): string {
  return `KEYFOB_GUARD_${key.replace(/[A-Z]/g, (ch) => `_${ch}`).toUpperCase()}`
}

/** Where a raw value came from, for messages. */
type Raw = { readonly value: unknown; readonly from: string }

/** Inputs of {@link loadConfig}. */
export interface LoadConfigInput {
  /** Command-line arguments after the program name. */
  readonly argv: readonly string[]
  /** The process environment. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Reads a file as UTF-8 (for `--env-file`, `--config`, `--fastgeoapi-env`); default none. */
  readonly readFile?: (path: string) => string
  /**
   * Turns a fastgeoapi `.env` (already parsed) into settings; `@keyfob/gateway` passes
   * {@link fromFastgeoapiEnv}. Kept as a parameter so this module has no mode knowledge.
   */
  readonly fastgeoapi?: (vars: Readonly<Record<string, string>>) => {
    readonly settings: Readonly<Record<string, unknown>>
    readonly env: Readonly<Record<string, string>>
  }
}

/** The result of {@link loadConfig}: settings, or a request for `--help` (or, with `version`, `--version`). */
export type LoadedConfig =
  | { readonly help: true; readonly version?: boolean }
  | { readonly help: false; readonly settings: GatewaySettings }

const META = new Set(['--env-file', '--config', '--fastgeoapi-env'])

/**
 * Merges the gateway's settings from every source, with one precedence: **flags > environment
 * (`KEYFOB_GUARD_*`) > env file (`--env-file`) > config file (`--config`, JSON with the same
 * keys in camelCase) > fastgeoapi `.env` (`--fastgeoapi-env`) > defaults**. API keys
 * (`--api-key-env-prefix`) are read from the env file and the environment, the environment
 * winning. Then checks the result: an upstream is required, a mode is required unless
 * `--allow-unauthenticated`, and two modes need `--combine`.
 *
 * @param input - argv, the environment, and a file reader.
 * @returns The settings, or `{ help: true }` for `--help`.
 * @throws GatewayError `ERR_USAGE` for an unknown flag or a malformed value; `ERR_FILE` for an
 *   unreadable file; `ERR_MISSING_SETTING` without an upstream; `ERR_NO_MODE` without a mode;
 *   `ERR_MUTUALLY_EXCLUSIVE` for two modes without `--combine`; `ERR_INSECURE_SETTING` (through
 *   the fastgeoapi translation) for an insecure fastgeoapi `.env`.
 * @example
 * ```ts
 * import { loadConfig } from '@keyfob/gateway'
 *
 * const loaded = loadConfig({
 *   argv: ['--upstream', 'http://127.0.0.1:5000', '--mount', '/geoapi', '--jwt-issuer', 'https://idp.example'],
 *   env: { KEYFOB_GUARD_JWT_AUDIENCE: 'https://api.example/geoapi' },
 * })
 * if (!loaded.help) console.log(loaded.settings.mount) // '/geoapi'
 * ```
 */
export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const flags = new Map<string, Raw>()
  const meta = new Map<string, string>()
  const byFlag = new Map(OPTIONS.map((o) => [flagOf(o.key), o]))
  const argv = [...input.argv]
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--help' || arg === '-h') return { help: true }
    if (arg === '--version' || arg === '-v') return { help: true, version: true }
    if (!arg.startsWith('--'))
      throw usage(`unexpected argument ${JSON.stringify(arg)}; flags look like --upstream URL`)
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    const inline = eq === -1 ? undefined : arg.slice(eq + 1)
    if (META.has(name)) {
      const value = inline ?? argv[++i]
      if (value === undefined) throw usage(`${name} needs a file path`)
      meta.set(name, value)
      continue
    }
    const negated = name.startsWith('--no-') ? byFlag.get(`--${name.slice(5)}`) : undefined
    if (negated?.kind === 'boolean' && inline === undefined) {
      flags.set(negated.key, { value: false, from: name })
      continue
    }
    const option = byFlag.get(name)
    if (!option) throw usage(`unknown flag ${name}${closest(name, [...byFlag.keys(), ...META])}; see --help`)
    if (option.kind === 'boolean' && inline === undefined) {
      flags.set(option.key, { value: true, from: name })
      continue
    }
    const value = inline ?? argv[++i]
    if (value === undefined) throw usage(`${name} needs a value`)
    flags.set(option.key, { value, from: name })
  }

  const read = (flag: string, path: string): string => {
    if (!input.readFile) throw new GatewayError('ERR_FILE', `${flag} is not supported here (no file access)`)
    try {
      return input.readFile(path)
    } catch (error) {
      throw new GatewayError(
        'ERR_FILE',
        `${flag} ${path}: cannot read the file (${(error as Error).message})`,
        {
          cause: error,
        },
      )
    }
  }
  const envFilePath = meta.get('--env-file')
  const envFile: Record<string, string> = envFilePath ? parseDotenv(read('--env-file', envFilePath)) : {}
  const configPath = meta.get('--config')
  let configFile: Record<string, unknown> = {}
  if (configPath) {
    try {
      const parsed: unknown = JSON.parse(read('--config', configPath))
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        throw new Error('not a JSON object')
      configFile = parsed as Record<string, unknown>
    } catch (error) {
      if (error instanceof GatewayError) throw error
      throw new GatewayError('ERR_FILE', `--config ${configPath}: ${(error as Error).message}`, {
        cause: error,
      })
    }
    const known = new Set(OPTIONS.map((o) => o.key as string))
    for (const key of Object.keys(configFile)) {
      if (!known.has(key)) {
        throw usage(`--config ${configPath}: unknown key ${JSON.stringify(key)}${closest(key, [...known])}`)
      }
    }
  }
  const fastgeoapiPath = meta.get('--fastgeoapi-env')
  let fastgeoapiVars: Record<string, string> = {}
  let fromFastgeoapi: Readonly<Record<string, unknown>> = {}
  if (fastgeoapiPath) {
    if (!input.fastgeoapi) throw usage('--fastgeoapi-env is not supported here')
    fastgeoapiVars = parseDotenv(read('--fastgeoapi-env', fastgeoapiPath))
    const translated = input.fastgeoapi({ ...fastgeoapiVars, ...definedOf(input.env) })
    fromFastgeoapi = translated.settings
    fastgeoapiVars = { ...fastgeoapiVars, ...translated.env }
  }

  const env: Record<string, string | undefined> = { ...fastgeoapiVars, ...envFile, ...input.env }
  const values: Record<string, unknown> = {}
  for (const option of OPTIONS) {
    const variable = envOf(option.key)
    const raw: Raw | undefined =
      flags.get(option.key) ??
      (input.env[variable] !== undefined ? { value: input.env[variable], from: variable } : undefined) ??
      (envFile[variable] !== undefined
        ? { value: envFile[variable], from: `${variable} in ${envFilePath}` }
        : undefined) ??
      (configFile[option.key] !== undefined
        ? { value: configFile[option.key], from: `${option.key} in ${configPath}` }
        : undefined) ??
      (fromFastgeoapi[option.key] !== undefined
        ? { value: fromFastgeoapi[option.key], from: `${fastgeoapiPath}` }
        : undefined)
    if (raw !== undefined) values[option.key] = coerce(option, raw)
  }
  return { help: false, settings: check({ ...DEFAULTS, ...values, env } as unknown as GatewaySettings) }
}

function definedOf(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v
  return out
}

function coerce(option: Option, raw: Raw): unknown {
  const { value, from } = raw
  switch (option.kind) {
    case 'string':
      if (typeof value !== 'string') throw usage(`${from} must be a string`)
      return value
    case 'list':
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value
      if (typeof value !== 'string') throw usage(`${from} must be a comma-separated list`)
      return value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    case 'number': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && /^\d+$/.test(value)
            ? Number(value)
            : Number.NaN
      if (!Number.isSafeInteger(n) || n < 0)
        throw usage(`${from} must be a non-negative integer, got ${JSON.stringify(value)}`)
      return n
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value
      const s = String(value).toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(s)) return true
      if (['false', '0', 'no', 'off', ''].includes(s)) return false
      throw usage(`${from} must be true or false, got ${JSON.stringify(value)}`)
    }
  }
}

/** The authentication modes a settings object enables, with the setting that enabled each. */
export function modesOf(settings: GatewaySettings): { readonly name: string; readonly by: string }[] {
  const modes: { name: string; by: string }[] = []
  if (settings.apiKeyEnvPrefix !== undefined) modes.push({ name: 'API key', by: flagOf('apiKeyEnvPrefix') })
  if (settings.jwtIssuer !== undefined || settings.jwksUrl !== undefined) {
    modes.push({
      name: 'JWT',
      by: settings.jwtIssuer !== undefined ? flagOf('jwtIssuer') : flagOf('jwksUrl'),
    })
  }
  if (settings.oidcIssuer !== undefined) modes.push({ name: 'OIDC', by: flagOf('oidcIssuer') })
  return modes
}

function check(s: GatewaySettings): GatewaySettings {
  if (s.upstream === undefined) {
    throw new GatewayError(
      'ERR_MISSING_SETTING',
      `no upstream: give --upstream http://127.0.0.1:5000 (or ${envOf('upstream')}), the API to protect`,
    )
  }
  let upstream: URL
  try {
    upstream = new URL(s.upstream)
  } catch {
    throw usage(`--upstream ${JSON.stringify(s.upstream)} is not a URL; give e.g. http://127.0.0.1:5000`)
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
    throw usage(`--upstream must be an http: or https: URL, got ${upstream.protocol}`)
  }
  if (upstream.search || upstream.hash) throw usage('--upstream must not have a query or fragment')
  let mount = s.mount
  if (mount !== '') {
    if (!mount.startsWith('/') || mount.includes('//') || /[?#*:]/.test(mount)) {
      throw usage(`--mount ${JSON.stringify(mount)} must be a path such as /geoapi`)
    }
    mount = mount.replace(/\/+$/, '')
  }
  if (s.port > 65535) throw usage(`--port must be at most 65535, got ${s.port}`)
  if (s.workers < 1) throw usage('--workers must be at least 1')
  if (s.combine !== undefined && s.combine !== 'first-present' && s.combine !== 'all') {
    throw usage(`--combine must be first-present or all, got ${JSON.stringify(s.combine)}`)
  }
  if (s.opaInput !== 'keyfob' && s.opaInput !== 'fastgeoapi') {
    throw usage(`--opa-input must be keyfob or fastgeoapi, got ${JSON.stringify(s.opaInput)}`)
  }
  if (s.opaInput === 'fastgeoapi' && (s.opaUrl === undefined || s.oidcIssuer === undefined)) {
    throw usage(
      "--opa-input fastgeoapi puts the IdP's userinfo for the caller into OPA's input: it needs --opa-url and --oidc-issuer (whose discovery names the userinfo endpoint)",
    )
  }
  for (const entry of s.public) {
    if (!/^([A-Z]+ )?\//.test(entry)) {
      throw usage(
        `--public entry ${JSON.stringify(entry)} must be "/path" or "METHOD /path", relative to the mount`,
      )
    }
  }
  for (const claim of s.claims ?? []) {
    if (!/^[^=\s]+=\S/.test(claim)) {
      throw usage(`--claims entry ${JSON.stringify(claim)} must be name=value or name=a|b`)
    }
  }
  const modes = modesOf(s)
  if (modes.length === 0 && !s.allowUnauthenticated) {
    throw new GatewayError(
      'ERR_NO_MODE',
      `no authentication mode is configured, so every request would reach the upstream unauthenticated. Configure one (--api-key-env-prefix, --jwt-issuer or --jwks-url, --oidc-issuer), or say --allow-unauthenticated to run an open proxy on purpose`,
    )
  }
  if (modes.length > 0 && s.allowUnauthenticated) {
    throw usage(
      `--allow-unauthenticated contradicts the configured ${modes.map((m) => m.name).join(', ')} mode; drop one`,
    )
  }
  if (modes.length > 1 && s.combine === undefined) {
    throw new GatewayError(
      'ERR_MUTUALLY_EXCLUSIVE',
      `${modes.map((m) => `${m.name} (${m.by})`).join(', ')} are mutually exclusive unless you say how they combine: --combine first-present (the first credential present decides) or --combine all (every one must pass)`,
    )
  }
  const jwt = s.jwtIssuer !== undefined || s.jwksUrl !== undefined
  if (jwt && s.jwtIssuer === undefined) {
    throw missing(
      `JWT mode needs the expected issuer: set --jwt-issuer (${envOf('jwtIssuer')}), the iss your IdP puts in tokens`,
    )
  }
  if (jwt && s.jwtAudience === undefined) {
    throw missing(
      `JWT mode needs the expected audience: set --jwt-audience (${envOf('jwtAudience')}), the aud that names this API, so tokens minted for another service are refused`,
    )
  }
  if (s.oidcIssuer !== undefined && s.oidcAudience === undefined) {
    throw missing(`OIDC mode needs the expected audience: set --oidc-audience (${envOf('oidcAudience')})`)
  }
  if ((s.introspectionClientId === undefined) !== (s.introspectionClientSecret === undefined)) {
    throw usage(
      '--introspection-client-id and its secret (KEYFOB_GUARD_INTROSPECTION_CLIENT_SECRET) go together',
    )
  }
  if (s.introspectionClientId !== undefined && s.oidcIssuer === undefined) {
    throw usage('--introspection-client-id needs --oidc-issuer (introspection is part of the OIDC mode)')
  }
  if (s.resource !== undefined && !jwt && s.oidcIssuer === undefined) {
    throw usage(
      '--resource (RFC 9728 metadata) names authorization servers: it needs --jwt-issuer or --oidc-issuer',
    )
  }
  if (!s.openapiPath.startsWith('/')) throw usage('--openapi-path must start with /')
  const dpop = s.dpop || s.dpopRequired || s.dpopNonce
  if (dpop && !jwt && s.oidcIssuer === undefined) {
    throw usage(
      '--dpop, --dpop-required and --dpop-nonce apply to tokens: they need --jwt-issuer or --oidc-issuer',
    )
  }
  if (s.dpopNonceSecret !== undefined && s.dpopNonceSecret.length < 32) {
    throw usage(
      `${envOf('dpopNonceSecret')} must be at least 32 characters (a random value, the same on every instance)`,
    )
  }
  if (s.publicOrigin !== undefined) {
    let url: URL | undefined
    try {
      url = new URL(s.publicOrigin)
    } catch {
      url = undefined
    }
    if (
      url === undefined ||
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      url.origin !== s.publicOrigin.replace(/\/$/, '')
    ) {
      throw usage(
        `--public-origin ${JSON.stringify(s.publicOrigin)} must be a bare origin such as https://api.example (no path, query or credentials)`,
      )
    }
  }
  return { ...s, mount, dpop }
}

function missing(message: string): GatewayError {
  return new GatewayError('ERR_MISSING_SETTING', message)
}

function usage(message: string): GatewayError {
  return new GatewayError('ERR_USAGE', message)
}

/** ` (did you mean --x?)` for a near miss. */
function closest(name: string, candidates: readonly string[]): string {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    const d = distance(name, c)
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best ? ` (did you mean ${best}?)` : ''
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
      prev = tmp
    }
  }
  return row[b.length] as number
}

/** The package version, from its package.json (next to `src/` and `dist/`). @internal */
export function versionOf(readFile: (path: URL) => string): string {
  return (JSON.parse(readFile(new URL('../package.json', import.meta.url))) as { version: string }).version
}

/**
 * The `--help` text: every flag, its variable, and the precedence.
 *
 * @returns The usage text.
 * @example
 * ```ts
 * import { helpText } from '@keyfob/gateway'
 * console.log(helpText())
 * ```
 */
export function helpText(): string {
  const lines = [
    'keyfob-guard: put @keyfob/guard in front of any HTTP API',
    '',
    'usage: keyfob-guard --upstream http://127.0.0.1:5000 [--mount /geoapi] [mode flags] [options]',
    '',
    'precedence: flags > environment (KEYFOB_GUARD_*) > --env-file > --config (JSON) > --fastgeoapi-env > defaults',
    '',
    '  --help, --version        this text; the version',
    '  --env-file FILE          read KEYFOB_GUARD_* settings and API keys from a dotenv file',
    '  --config FILE            read settings from a JSON file (keys in camelCase, e.g. "jwtIssuer")',
    '  --fastgeoapi-env FILE    read a fastgeoapi .env unchanged (ENV_STATE, JWKS_ENABLED, ...)',
  ]
  for (const o of OPTIONS) {
    const flag = `${flagOf(o.key)}${o.kind === 'boolean' ? '' : ' VALUE'}`
    lines.push(`  ${flag.padEnd(36)} ${o.help}  [${envOf(o.key)}]`)
  }
  return lines.join('\n')
}
