/** The gateway as a Hono app: health, readiness, the guard, the proxy and the access log. @module */
import {
  type AuthInfo,
  apiKeyAuth,
  type ClaimCheck,
  type DpopOptions,
  type GuardEvent,
  guard,
  jwtAuth,
  oidcAuth,
  opaPolicy,
  type PolicyEngine,
  policy,
  protectedResourceMetadata,
  requireClaims,
  requireScopes,
  type SchemeMiddleware,
} from '@keyfob/guard'
import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { type GatewaySettings, modesOf } from './config.ts'
import { GatewayError } from './errors.ts'
import { type PatchOpenApiOptions, patchOpenApi, type SecurityScheme } from './openapi.ts'
import {
  endToEnd,
  type Forwarder,
  fetchForwarder,
  headersOf,
  UpstreamError,
  type UpstreamRequest,
} from './proxy.ts'
import { createReadiness, type Readiness } from './readiness.ts'
import { fastgeoapiOpa } from './userinfo.ts'

/** What a runtime adapter gives the gateway. */
export interface GatewayRuntime {
  /** How requests reach the upstream; default {@link fetchForwarder}. */
  readonly forward?: Forwarder
  /** The client's address, for `X-Forwarded-For`. */
  readonly clientAddress?: (c: Context) => string | undefined
  /**
   * The client's request headers by lower-case name, as the runtime has them already parsed
   * (`node:http`'s `IncomingMessage.headers`); default: read from `c.req.raw.headers`.
   */
  readonly clientHeaders?: (c: Context) => Readonly<Record<string, string | readonly string[] | undefined>>
  /**
   * Reads one request header (all its occurrences joined with `, `, as `Headers.get` does)
   * without building a `Headers` object: on Node, from `node:http`'s raw headers. When given, the
   * guard's reads of `Authorization` or the API-key header cost a scan of a few strings instead of
   * a `Headers` built and validated for every request (measured: about a fifth of the gateway's
   * CPU per request in JWT mode). Default: `c.req.header`.
   */
  readonly requestHeader?: (c: Context, name: string) => string | undefined
  /**
   * The request-target exactly as the client sent it (on Node, `IncomingMessage.url`), before
   * URL parsing resolved its dot segments; the gateway refuses it with a 400 when it is ambiguous
   * (an encoded `/`, `\\` or `.`, a NUL, a dot segment). Default: the path of `c.req.url`, which Deno and Bun have already
   * normalised (`/a/../b` arrives as `/b`).
   */
  readonly requestTarget?: (c: Context) => string | undefined
  /** Where access-log lines go; default `console.log`. */
  readonly log?: (line: string) => void
  /** The `fetch` for JWKS, discovery, introspection, OPA and readiness; default `globalThis.fetch`. */
  readonly fetch?: typeof fetch
  /**
   * The Cedar engine for `--cedar-policies`, built before the gateway (it loads wasm and parses the
   * policies asynchronously): see {@link cedarEngine}. Required when the setting is given.
   */
  readonly cedar?: PolicyEngine
}

/** A configured gateway. */
export interface Gateway {
  /** Handles one request (a Fetch API handler, e.g. for `Deno.serve` or `Bun.serve`). */
  readonly fetch: (request: Request, env?: unknown) => Response | Promise<Response>
  /** The Hono app, to mount elsewhere or test with `app.request()`. */
  readonly app: Hono
  /** The one startup log line: what is protected, how, and what is public. */
  readonly summary: string
  /** Whether the dependencies (JWKS or discovery, OPA) are reachable or were recently. */
  readonly ready: () => Promise<Readiness>
}

type Vars = { Variables: { auth: AuthInfo<Record<string, unknown>>; decision: GuardEvent } }

/**
 * Builds the gateway: `/healthz` and `/readyz` (outside the guard), the guard configured from
 * `settings` in front of everything under the mount (its public paths excepted), the identity
 * headers, and the streaming proxy, with one JSON access-log line per request (no tokens, keys
 * or query strings in it).
 *
 * @param settings - From {@link loadConfig}.
 * @param runtime - The forwarder, client address, log sink and `fetch` of the runtime.
 * @returns The gateway.
 * @throws GuardError from `@keyfob/guard` for a setting the guard refuses (a plain-http issuer
 *   off loopback: `ERR_INSECURE_URL`; an empty API key: `ERR_EMPTY_KEY`; …).
 * @example
 * ```ts
 * import { createGateway, loadConfig } from '@keyfob/gateway'
 *
 * const loaded = loadConfig({
 *   argv: ['--upstream', 'http://127.0.0.1:5000', '--mount', '/geoapi', '--api-key-env-prefix', 'PYGEOAPI_KEY_'],
 *   env: { PYGEOAPI_KEY_GLOBAL: 'a-long-random-key-0123456789' },
 * })
 * if (!loaded.help) {
 *   const gateway = createGateway(loaded.settings)
 *   console.error(gateway.summary)
 * }
 * ```
 */
export function createGateway(settings: GatewaySettings, runtime: GatewayRuntime = {}): Gateway {
  const forward = runtime.forward ?? fetchForwarder(runtime.fetch)
  const log = runtime.log ?? ((line: string) => console.log(line))
  const fetchImpl = runtime.fetch ?? ((input, init) => fetch(input, init))
  const mount = settings.mount
  const upstream = new URL(settings.upstream)
  const basePath = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname
  const publicPaths = settings.public.flatMap((entry) => mounted(entry, mount))
  const lower = (name: string) => name.toLowerCase()
  const identity = {
    subject: lower(settings.subjectHeader),
    scopes: lower(settings.scopesHeader),
    clientId: lower(settings.clientIdHeader),
    keyId: lower(settings.keyIdHeader),
  }
  // Never forwarded as the client sent them: the credential (unless configured), identity
  // headers (the gateway sets its own), and the X-Forwarded-* headers the gateway writes.
  const drop: ReadonlySet<string> = new Set([
    'host',
    'x-forwarded-for',
    'x-forwarded-proto',
    'x-forwarded-host',
    'x-forwarded-prefix',
    ...(settings.forwardCredential ? [] : ['authorization', 'dpop', lower(settings.apiKeyHeader)]),
    ...Object.values(identity).filter((h) => h !== ''),
  ])
  const clientHeaders = runtime.clientHeaders ?? ((c: Context) => headersOf(c.req.raw.headers))
  const ready = createReadiness(settings, fetchImpl)

  // The guard's decisions feed the access log only: without it, no event is built per request.
  const onEvent = settings.accessLog
    ? (event: GuardEvent, c: Context) => {
        c.set('decision', event)
      }
    : undefined
  const dpop = dpopOptions(settings)
  const issuers = [settings.jwtIssuer, settings.oidcIssuer].filter((i): i is string => i !== undefined)
  const metadata =
    settings.resource !== undefined
      ? protectedResourceMetadata({
          resource: settings.resource,
          authorizationServers: issuers,
          ...(settings.scopes ? { scopesSupported: settings.scopes } : {}),
          ...(dpop ? { dpop } : {}),
        })
      : undefined
  if (settings.cedarPolicies !== undefined && runtime.cedar === undefined) {
    throw new GatewayError(
      'ERR_MISSING_SETTING',
      '--cedar-policies needs the Cedar engine: build it with cedarEngine(settings) and pass it as runtime.cedar (serveNode, serveWeb and the bins do)',
    )
  }
  const protect = protection(settings, publicPaths, onEvent, fetchImpl, metadata?.url, runtime.cedar, dpop)
  const openapi = openApiOptions(settings)
  const bufferedForward = fetchForwarder()

  const app = new Hono<Vars>()
  if (settings.accessLog) app.use('*', accessLog(log))
  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', async (c) => {
    const state = await ready()
    return c.json(state, state.ready ? 200 : 503)
  })
  if (metadata) app.get(metadata.path, metadata.handler)
  const requestTarget = runtime.requestTarget
  const requestHeader = runtime.requestHeader
  app.use('*', async function path(c, next) {
    if (requestHeader) {
      const all = c.req.header.bind(c.req)
      // Hono reads one header through `c.req.header(name)`; answer it from the runtime's own parse.
      c.req.header = ((name?: string) =>
        name === undefined ? all() : requestHeader(c, name)) as typeof c.req.header
    }
    // Every decision is made on the raw path, the very string the upstream receives: `/geo%61pi`
    // is not under `/geoapi`, and `/openapi/..%2Fcollections` is not under a public `/openapi/*`
    // (Hono's `c.req.path` decodes percent-escapes; an upstream may decode more of them).
    const href = c.req.url
    const [start, pathEnd] = pathOf(href)
    const path = href.slice(start, pathEnd)
    const target = requestTarget?.(c)
    let raw = path
    if (target !== undefined && target.charCodeAt(0) === 47) {
      const query = target.indexOf('?')
      raw = query === -1 ? target : target.slice(0, query)
    }
    const ambiguous = pathAmbiguity(raw)
    if (ambiguous !== undefined) {
      return c.json(
        {
          error: 'invalid_request',
          error_description: `the request path contains ${ambiguous}, which servers decode differently: send the path without it`,
        },
        400,
      )
    }
    if (mount !== '' && path !== mount && !path.startsWith(`${mount}/`)) {
      return c.json({ error: 'not_found', error_description: `nothing is served outside ${mount}` }, 404)
    }
    c.req.path = path
    return next()
  })
  for (const middleware of protect) app.use('*', middleware)
  // A failed upstream exchange as the client sees it: a 504 or 502 JSON error.
  const upstreamFailure = (c: Context, error: unknown): Response => {
    if (!(error instanceof UpstreamError)) throw error
    c.set('decision', { ...(c.get('decision') ?? {}), upstream: error.kind } as never)
    return error.kind === 'timeout'
      ? c.json(
          {
            error: 'upstream_timeout',
            error_description: `the upstream sent no response within ${settings.upstreamTimeoutMs} ms`,
          },
          504,
        )
      : c.json({ error: 'bad_gateway', error_description: 'the upstream could not be reached' }, 502)
  }
  // Not an async function: the proxied request's promise is the forwarder's own, one fewer to settle.
  app.all('*', (c) => {
    // The runtime's URL is normalised (no dot segments) and still percent-encoded: cut it as a
    // string, without parsing it again.
    const href = c.req.url
    const [start, pathEnd, end] = pathOf(href)
    const rest = href.slice(start + mount.length, pathEnd)
    const path = joinPath(basePath, rest) + href.slice(pathEnd, end)
    const source = clientHeaders(c)
    const headers = endToEnd(source, drop)
    const auth = c.get('auth')
    if (auth) {
      if (identity.subject && auth.subject !== undefined) headers[identity.subject] = auth.subject
      if (identity.scopes && auth.scopes.length > 0) headers[identity.scopes] = auth.scopes.join(' ')
      if (identity.clientId && auth.clientId !== undefined) headers[identity.clientId] = auth.clientId
      if (identity.keyId && auth.keyId !== undefined) headers[identity.keyId] = auth.keyId
    }
    const prior = source['x-forwarded-for']
    const priorList = typeof prior === 'string' ? prior : prior?.join(', ')
    const client = runtime.clientAddress?.(c)
    if (client) headers['x-forwarded-for'] = priorList ? `${priorList}, ${client}` : client
    else if (priorList) headers['x-forwarded-for'] = priorList
    headers['x-forwarded-proto'] = href.startsWith('https:') ? 'https' : 'http'
    const host = source.host
    headers['x-forwarded-host'] = typeof host === 'string' ? host : href.slice(href.indexOf('//') + 2, start)
    if (mount !== '') headers['x-forwarded-prefix'] = mount
    const request: UpstreamRequest = {
      upstream,
      path,
      method: c.req.method,
      headers,
      timeoutMs: settings.upstreamTimeoutMs,
      // Only the guard's DPoP nonces prepare response headers: other set-ups skip the lookup.
      responseHeaders: settings.dpopNonce ? c.res.headers : undefined,
    }
    if (
      (c.req.method === 'GET' || c.req.method === 'HEAD') &&
      (rest === settings.openapiPath || rest === `${settings.openapiPath}/`)
    ) {
      return bufferedForward(c, request).then(
        (response) => patchResponse(response, openapi),
        (error: unknown) => upstreamFailure(c, error),
      )
    }
    return forward(c, request).catch((error: unknown) => upstreamFailure(c, error))
  })
  app.onError((error, c) => {
    log(JSON.stringify({ level: 'error', message: error.message, name: error.name }))
    return c.json({ error: 'server_error', error_description: 'the gateway failed on this request' }, 500)
  })

  return {
    fetch: (request, env) => app.fetch(request, env),
    app: app as unknown as Hono,
    summary: summaryOf(settings, publicPaths),
    ready,
  }
}

/**
 * Builds the Cedar engine of `--cedar-policies` (reads the file, loads `@cedar-policy/cedar-wasm`,
 * parses the policies), for {@link GatewayRuntime.cedar}; `undefined` without the setting.
 *
 * @param settings - From {@link loadConfig}.
 * @param readFile - Reads the policy file as UTF-8.
 * @returns The engine, or `undefined`.
 * @throws GuardError `ERR_INVALID_POLICY` for policies that do not parse; GatewayError `ERR_FILE`
 *   for an unreadable file.
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs'
 * import { cedarEngine, createGateway, loadConfig } from '@keyfob/gateway'
 *
 * const loaded = loadConfig({ argv: ['--upstream', 'http://127.0.0.1:5000', '--allow-unauthenticated'], env: {} })
 * if (!loaded.help) {
 *   const cedar = await cedarEngine(loaded.settings, (path) => readFileSync(path, 'utf8'))
 *   createGateway(loaded.settings, cedar ? { cedar } : {})
 * }
 * ```
 */
export async function cedarEngine(
  settings: GatewaySettings,
  readFile: (path: string) => string,
): Promise<PolicyEngine | undefined> {
  if (settings.cedarPolicies === undefined) return undefined
  let policies: string
  try {
    policies = readFile(settings.cedarPolicies)
  } catch (error) {
    throw new GatewayError('ERR_FILE', `--cedar-policies ${settings.cedarPolicies}: cannot read the file`, {
      cause: error,
    })
  }
  const { cedarPolicy } = await import('@keyfob/guard/cedar')
  return cedarPolicy({ policies })
}

/** The guard and authorization middlewares for the settings (none with `--allow-unauthenticated`). */
function protection(
  settings: GatewaySettings,
  publicPaths: readonly string[],
  onEvent: ((event: GuardEvent, c: Context) => void) | undefined,
  fetchImpl: typeof fetch,
  resourceMetadata: string | undefined,
  cedar: PolicyEngine | undefined,
  dpop: DpopOptions | undefined,
): MiddlewareHandler[] {
  const challenge = {
    ...(resourceMetadata !== undefined ? { resourceMetadata } : {}),
    ...(dpop !== undefined ? { dpop } : {}),
  }
  const schemes: SchemeMiddleware[] = []
  if (settings.apiKeyEnvPrefix !== undefined) {
    schemes.push(
      apiKeyAuth({ envPrefix: settings.apiKeyEnvPrefix, env: settings.env, header: settings.apiKeyHeader }),
    )
  }
  if (settings.jwtIssuer !== undefined || settings.jwksUrl !== undefined) {
    schemes.push(
      jwtAuth({
        ...(settings.jwtIssuer !== undefined ? { issuer: settings.jwtIssuer } : {}),
        ...(settings.jwtAudience !== undefined ? { audience: settings.jwtAudience } : {}),
        ...(settings.jwksUrl !== undefined ? { jwksUrl: settings.jwksUrl } : {}),
        ...(settings.jwtAlgorithms !== undefined ? { algorithms: settings.jwtAlgorithms as never } : {}),
        allowHttp: settings.allowHttp,
        fetch: fetchImpl,
        ...challenge,
      }),
    )
  }
  if (settings.oidcIssuer !== undefined) {
    schemes.push(
      oidcAuth({
        issuer: settings.oidcIssuer,
        ...(settings.oidcAudience !== undefined ? { audience: settings.oidcAudience } : {}),
        ...(settings.introspectionClientId !== undefined && settings.introspectionClientSecret !== undefined
          ? {
              introspection: {
                clientId: settings.introspectionClientId,
                clientSecret: settings.introspectionClientSecret,
              },
            }
          : {}),
        allowHttp: settings.allowHttp,
        fetch: fetchImpl,
        ...challenge,
      }),
    )
  }
  if (schemes.length === 0) return []
  const events = onEvent ? { onEvent } : {}
  const list: MiddlewareHandler[] = [
    guard({
      schemes,
      ...(settings.combine !== undefined ? { combine: settings.combine } : {}),
      publicPaths,
      ...events,
    }) as MiddlewareHandler,
  ]
  // Authorization runs only on requests the guard authenticated: a public path carries no caller.
  const authenticatedOnly =
    (middleware: MiddlewareHandler): MiddlewareHandler =>
    (c, next) =>
      c.get('auth') ? middleware(c, next) : next()
  if (settings.scopes !== undefined && settings.scopes.length > 0) {
    list.push(authenticatedOnly(requireScopes(settings.scopes, events) as MiddlewareHandler))
  }
  if (settings.claims !== undefined && settings.claims.length > 0) {
    const checks: Record<string, ClaimCheck> = {}
    for (const entry of settings.claims) {
      const eq = entry.indexOf('=')
      const values = entry
        .slice(eq + 1)
        .split('|')
        .map((v) => (v === 'true' ? true : v === 'false' ? false : v))
      checks[entry.slice(0, eq)] = values.length === 1 ? (values[0] as string | boolean) : values
    }
    list.push(authenticatedOnly(requireClaims(checks, events) as MiddlewareHandler))
  }
  if (cedar !== undefined) list.push(authenticatedOnly(policy(cedar, events) as MiddlewareHandler))
  if (settings.opaUrl !== undefined) {
    const engine =
      settings.opaInput === 'fastgeoapi' && settings.oidcIssuer !== undefined
        ? fastgeoapiOpa({
            url: settings.opaUrl,
            path: settings.opaPath,
            issuer: settings.oidcIssuer,
            fetch: fetchImpl,
          })
        : opaPolicy({
            url: settings.opaUrl,
            path: settings.opaPath,
            fetch: fetchImpl,
            ...(settings.mount !== '' ? { pathPrefix: settings.mount } : {}),
          })
    list.push(authenticatedOnly(policy(engine, events) as MiddlewareHandler))
  }
  return list
}

/** The guard's `dpop` option for the settings, or `undefined` when DPoP is off. */
function dpopOptions(settings: GatewaySettings): DpopOptions | undefined {
  if (!settings.dpop) return undefined
  return {
    ...(settings.dpopRequired ? { required: true } : {}),
    ...(settings.publicOrigin !== undefined ? { publicOrigin: settings.publicOrigin } : {}),
    ...(settings.dpopNonce
      ? { nonce: settings.dpopNonceSecret !== undefined ? { secret: settings.dpopNonceSecret } : true }
      : {}),
  }
}

/** DPoP as OpenAPI can say it: an `http` scheme whose name RFC 9449 registered with IANA. */
const dpopScheme: SecurityScheme = {
  type: 'http',
  scheme: 'DPoP',
  description:
    'A DPoP-bound access token (RFC 9449): `Authorization: DPoP <token>` with a `DPoP` proof header signed by the key the token is bound to',
}

/** The security schemes the settings imply, and which documented operations are public. */
function openApiOptions(settings: GatewaySettings): PatchOpenApiOptions {
  const groups: Record<string, SecurityScheme>[] = []
  const scopes = settings.scopes ?? []
  if (settings.apiKeyEnvPrefix !== undefined) {
    groups.push({ ApiKey: { type: 'apiKey', in: 'header', name: settings.apiKeyHeader } })
  }
  if (settings.jwtIssuer !== undefined || settings.jwksUrl !== undefined) {
    const group: Record<string, SecurityScheme> = settings.dpopRequired
      ? {}
      : { BearerJWT: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } }
    if (settings.dpop) group.DPoP = dpopScheme
    if (settings.tokenUrl !== undefined) {
      group.OAuth2ClientCredentials = {
        type: 'oauth2',
        flows: {
          clientCredentials: {
            tokenUrl: settings.tokenUrl,
            scopes: Object.fromEntries(scopes.map((s) => [s, s])),
          },
        },
      }
    }
    groups.push(group)
  }
  if (settings.oidcIssuer !== undefined) {
    groups.push({
      OpenIdConnect: {
        type: 'openIdConnect',
        openIdConnectUrl: `${settings.oidcIssuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
      },
      ...(settings.dpopRequired ? {} : { OIDCBearer: { type: 'http', scheme: 'bearer' } as const }),
      ...(settings.dpop ? { DPoP: dpopScheme } : {}),
    })
  }
  const rules = settings.public.map((entry) => {
    const space = entry.indexOf(' ')
    const method = space === -1 ? undefined : entry.slice(0, space).toLowerCase()
    const segments = (space === -1 ? entry : entry.slice(space + 1)).split('/').slice(1)
    const rest = segments[segments.length - 1] === '*'
    if (rest) segments.pop()
    return { method, segments, rest }
  })
  return {
    groups,
    combine: settings.combine === 'all' ? 'all' : 'any',
    scopes,
    isPublic: (method, path) => {
      const actual = path.split('/').slice(1)
      return rules.some((rule) => {
        if (
          rule.method !== undefined &&
          rule.method !== method &&
          !(rule.method === 'get' && method === 'head')
        )
          return false
        if (rule.rest ? actual.length <= rule.segments.length : actual.length !== rule.segments.length)
          return false
        return rule.segments.every((s, i) => s.startsWith(':') || s === actual[i])
      })
    },
  }
}

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\b|^application\/vnd\.oai\.openapi\+json\b/i
const MAX_OPENAPI = 16 * 1024 * 1024

/** Patches a JSON OpenAPI answer; HTML, non-200 and unparsable answers pass untouched. */
async function patchResponse(response: Response, options: PatchOpenApiOptions): Promise<Response> {
  const type = response.headers.get('content-type') ?? ''
  if (
    response.status !== 200 ||
    !JSON_TYPE.test(type) ||
    options.groups.length === 0 ||
    response.body === null
  ) {
    return response
  }
  const length = Number(response.headers.get('content-length') ?? '0')
  if (length > MAX_OPENAPI) return response
  const text = await response.text()
  let patched: string
  try {
    patched = JSON.stringify(patchOpenApi(JSON.parse(text) as Record<string, unknown>, options))
  } catch {
    patched = text
  }
  const headers = new Headers(response.headers)
  headers.delete('content-length')
  headers.delete('etag')
  return new Response(patched, { status: response.status, statusText: response.statusText, headers })
}

/** `GET /openapi` under `/geoapi` → `GET /geoapi/openapi`; `GET /` → `GET /geoapi` and `GET /geoapi/`. */
function mounted(entry: string, mount: string): string[] {
  const space = entry.indexOf(' ')
  const method = space === -1 ? '' : `${entry.slice(0, space)} `
  const path = space === -1 ? entry : entry.slice(space + 1)
  if (mount === '') return [`${method}${path}`]
  if (path === '/') return [`${method}${mount}`, `${method}${mount}/`]
  return [`${method}${mount}${path}`]
}

/**
 * Where the path of an absolute URL string starts, where it ends (at `?`, `#` or the end), and
 * where the query ends: `href.slice(start, pathEnd)` is the path, `href.slice(pathEnd, end)` the
 * query with its `?`.
 */
function pathOf(href: string): [start: number, pathEnd: number, end: number] {
  const authority = href.indexOf('//') + 2
  let start = href.indexOf('/', authority)
  const hash = href.indexOf('#', authority)
  const end = hash === -1 ? href.length : hash
  if (start === -1 || start > end) start = end
  const query = href.indexOf('?', start)
  return [start, query === -1 || query > end ? end : query, end]
}

const ENCODED = /%(?:2[fF]|5[cC]|2[eE]|00)|%(?![0-9A-Fa-f]{2})/

/**
 * Why a raw request path is ambiguous, or `undefined` when it is not: an encoded `/`, `\\` or `.`
 * (`%2F`, `%5C`, `%2E`), an encoded or literal NUL, a literal `\\`, a `%` not followed by two
 * hex digits, or a `.` or `..` segment. Such paths mean one resource to the gateway and another to
 * an upstream that decodes or normalises differently, so the gateway refuses them with a 400
 * before any decision (as Envoy's `path_with_escaped_slashes_action: REJECT_REQUEST` does).
 *
 * @param path - The path as sent, without the query.
 * @returns A short description of the first ambiguity found, or `undefined`.
 * @example
 * ```ts
 * pathAmbiguity('/openapi/..%2Fcollections') // 'an encoded "/", "\\", "." or NUL (%2F)'
 * pathAmbiguity('/collections/obs/items') // undefined
 * ```
 */
export function pathAmbiguity(path: string): string | undefined {
  if (path.indexOf('%') !== -1) {
    const match = ENCODED.exec(path)
    if (match) {
      return match[0] === '%'
        ? 'a "%" not followed by two hex digits'
        : `an encoded "/", "\\", "." or NUL (${match[0].toUpperCase()})`
    }
  }
  if (path.indexOf('\\') !== -1) return 'a "\\"'
  if (path.indexOf('\0') !== -1) return 'a NUL character'
  if (path.indexOf('/.') !== -1) {
    for (const segment of path.split('/')) {
      if (segment === '.' || segment === '..') return `a "${segment}" segment`
    }
  }
  return undefined
}

function joinPath(base: string, rest: string): string {
  const trimmed = base.endsWith('/') ? base.slice(0, -1) : base
  if (rest === '') return trimmed === '' ? '/' : trimmed
  return `${trimmed}${rest}`
}

/** One JSON line per request: method, path (no query), status, duration, the guard's decision. */
function accessLog(log: (line: string) => void): MiddlewareHandler<Vars> {
  return async function accessLog(c, next) {
    const started = performance.now()
    await next()
    const decision = c.get('decision') as (GuardEvent & { upstream?: string }) | undefined
    const auth = c.get('auth')
    const line: Record<string, unknown> = {
      time: new Date().toISOString(),
      method: c.req.method,
      path: c.req.path,
      status: (c.get('upstreamStatus' as never) as number | undefined) ?? c.res.status,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
    }
    if (decision?.outcome !== undefined) {
      line.decision = decision.outcome
      line.reason = decision.reason
      if (decision.source !== undefined) line.source = decision.source
    }
    if (decision?.upstream !== undefined) line.upstream = decision.upstream
    const subject = auth?.subject ?? decision?.subject
    if (subject !== undefined) line.subject = subject
    if (auth?.keyId !== undefined) line.key_id = auth.keyId
    if (auth?.clientId !== undefined) line.client_id = auth.clientId
    log(JSON.stringify(line))
  }
}

function summaryOf(settings: GatewaySettings, publicPaths: readonly string[]): string {
  const modes = modesOf(settings)
  const where = settings.mount === '' ? '/' : `${settings.mount}/*`
  const how =
    modes.length === 0
      ? 'NOTHING: --allow-unauthenticated, every request is forwarded without a credential'
      : [
          settings.apiKeyEnvPrefix !== undefined
            ? `API key (${settings.apiKeyHeader}, keys from ${settings.apiKeyEnvPrefix}*)`
            : undefined,
          settings.jwtIssuer !== undefined || settings.jwksUrl !== undefined
            ? `JWT (iss ${settings.jwtIssuer ?? 'any'}, aud ${settings.jwtAudience?.join(',') ?? 'any'}, keys ${settings.jwksUrl ?? 'from discovery'})`
            : undefined,
          settings.oidcIssuer !== undefined
            ? `OIDC (iss ${settings.oidcIssuer}, aud ${settings.oidcAudience?.join(',') ?? 'any'}${settings.introspectionClientId !== undefined ? ', introspection' : ''})`
            : undefined,
        ]
          .filter(Boolean)
          .join(modes.length > 1 ? ` ${settings.combine} ` : '') +
        (settings.dpop
          ? `, DPoP ${settings.dpopRequired ? 'required' : 'accepted'}${settings.dpopNonce ? ' with nonces' : ''}${settings.publicOrigin !== undefined ? ` (htu ${settings.publicOrigin})` : ''}`
          : '') +
        (settings.scopes?.length ? `, scopes ${settings.scopes.join(' ')}` : '') +
        (settings.claims?.length ? `, claims ${settings.claims.join(',')}` : '') +
        (settings.cedarPolicies !== undefined ? `, Cedar ${settings.cedarPolicies}` : '') +
        (settings.opaUrl !== undefined
          ? `, OPA ${settings.opaPath}${settings.opaInput === 'fastgeoapi' ? ' (fastgeoapi input: userinfo claims, whole path)' : ''}`
          : '')
  const open = modes.length === 0 ? 'everything' : publicPaths.length > 0 ? publicPaths.join(', ') : 'nothing'
  return `keyfob-guard: http://${settings.hostname}:${settings.port}${where} -> ${settings.upstream}; protected by ${how}; public: ${open}, /healthz, /readyz`
}
