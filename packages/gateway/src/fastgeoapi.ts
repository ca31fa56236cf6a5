/** Reading a fastgeoapi `.env` unchanged, refusing what fastgeoapi would run insecurely. @module */
import { GatewayError } from './errors.ts'

/** What a fastgeoapi `.env` translates to: gateway settings, and variables for the key source. */
export interface FastgeoapiTranslation {
  /** Settings by their {@link GatewaySettings} key (`mount`, `jwtIssuer`, …). */
  readonly settings: Readonly<Record<string, unknown>>
  /** Environment additions: `PYGEOAPI_KEY_GLOBAL`, as fastgeoapi copies it into `os.environ`. */
  readonly env: Readonly<Record<string, string>>
}

/** pydantic's boolean parsing (case-insensitive). */
function bool(value: string | undefined): boolean {
  if (value === undefined) return false
  const v = value.trim().toLowerCase()
  if (['1', 'true', 't', 'yes', 'y', 'on'].includes(v)) return true
  if (['0', 'false', 'f', 'no', 'n', 'off', ''].includes(v)) return false
  throw new GatewayError(
    'ERR_USAGE',
    `a fastgeoapi boolean must be true or false, got ${JSON.stringify(value)}`,
  )
}

/**
 * Translates a fastgeoapi `.env` (the variables as fastgeoapi reads them: `ENV_STATE` picks the
 * `DEV_` or `PROD_` prefix) into gateway settings:
 *
 * | fastgeoapi | keyfob-guard |
 * |---|---|
 * | `API_KEY_ENABLED`, `PYGEOAPI_KEY_GLOBAL` (+ any `PYGEOAPI_KEY_*`) | API-key mode on `X-API-KEY`, keys from `PYGEOAPI_KEY_*` |
 * | `JWKS_ENABLED`, `OAUTH2_JWKS_ENDPOINT`, `OAUTH2_EXPECTED_ISSUER`, `OAUTH2_EXPECTED_AUDIENCE` | JWT mode |
 * | `OAUTH2_TOKEN_ENDPOINT` | the OpenAPI `oauth2` client-credentials `tokenUrl` |
 * | `OPA_ENABLED`, `OPA_URL`, `OIDC_WELL_KNOWN_ENDPOINT` | OIDC mode against that issuer (bearer tokens verified locally, `OAUTH2_EXPECTED_AUDIENCE` required) + OPA at `httpapi/authz` with fastgeoapi's input: the IdP's userinfo for the token at the top level, `request_method`, `request_path` (the whole path) |
 * | `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET` | introspection of opaque tokens with that client (fastgeoapi uses it for a browser login redirect, which a gateway for APIs answers with a 401 challenge instead) |
 * | `FASTGEOAPI_CONTEXT` | `--mount` |
 * | `PYGEOAPI_SECURITY_SCHEME` | accepted; the OpenAPI scheme names are fixed, valid ones |
 *
 * Where fastgeoapi would run insecurely, this refuses with the variable to set: JWKS without
 * `OAUTH2_EXPECTED_ISSUER` or `OAUTH2_EXPECTED_AUDIENCE` (fastgeoapi accepts any), OPA without
 * an audience (fastgeoapi checks none), an empty `PYGEOAPI_KEY_*` (fastgeoapi would accept an
 * empty header). Two modes at once give fastgeoapi's own "mutually exclusive" error.
 *
 * @param vars - The `.env` variables, the process environment laid over them.
 * @returns Settings and environment additions.
 * @throws GatewayError `ERR_USAGE` for a missing or unknown `ENV_STATE` or a bad boolean;
 *   `ERR_MUTUALLY_EXCLUSIVE` for two modes; `ERR_INSECURE_SETTING` naming the variable to set;
 *   `ERR_MISSING_SETTING` for a mode without its endpoint.
 * @example
 * ```ts
 * import { fromFastgeoapiEnv } from '@keyfob/gateway'
 *
 * const { settings } = fromFastgeoapiEnv({
 *   ENV_STATE: 'prod',
 *   PROD_JWKS_ENABLED: 'true',
 *   PROD_OAUTH2_JWKS_ENDPOINT: 'https://idp.example/jwks',
 *   PROD_OAUTH2_EXPECTED_ISSUER: 'https://idp.example',
 *   PROD_OAUTH2_EXPECTED_AUDIENCE: 'https://api.example/geoapi',
 *   PROD_FASTGEOAPI_CONTEXT: '/geoapi',
 * })
 * console.log(settings.jwksUrl) // 'https://idp.example/jwks'
 * ```
 */
export function fromFastgeoapiEnv(vars: Readonly<Record<string, string | undefined>>): FastgeoapiTranslation {
  const state = vars.ENV_STATE
  if (state !== 'dev' && state !== 'prod') {
    throw new GatewayError(
      'ERR_USAGE',
      `ENV_STATE must be dev or prod (it picks the DEV_ or PROD_ variables), got ${JSON.stringify(state ?? null)}`,
    )
  }
  const prefix = state === 'dev' ? 'DEV_' : 'PROD_'
  const name = (v: string) => `${prefix}${v}`
  const get = (v: string): string | undefined => {
    const value = vars[name(v)]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }
  const insecure = (message: string) => new GatewayError('ERR_INSECURE_SETTING', message)
  const settings: Record<string, unknown> = {}
  const env: Record<string, string> = {}
  const context = get('FASTGEOAPI_CONTEXT')
  if (context !== undefined && context !== '/') settings.mount = context

  const apiKey = bool(vars[name('API_KEY_ENABLED')])
  const jwks = bool(vars[name('JWKS_ENABLED')])
  const opa = bool(vars[name('OPA_ENABLED')])
  if ([apiKey, jwks, opa].filter(Boolean).length > 1) {
    throw new GatewayError(
      'ERR_MUTUALLY_EXCLUSIVE',
      `${name('OPA_ENABLED')}, ${name('JWKS_ENABLED')} and ${name('API_KEY_ENABLED')} are mutually exclusive; set only one to true (or configure keyfob-guard with --combine)`,
    )
  }
  if (apiKey) {
    const key = vars[name('PYGEOAPI_KEY_GLOBAL')]
    if (key === undefined || key.trim() === '') {
      throw insecure(
        `${name('API_KEY_ENABLED')} is true but ${name('PYGEOAPI_KEY_GLOBAL')} is empty; set it to a random key of at least 16 characters`,
      )
    }
    for (const [variable, value] of Object.entries(vars)) {
      if (variable.startsWith('PYGEOAPI_KEY_') && (value === undefined || value.trim() === '')) {
        throw insecure(
          `${variable} is empty, and fastgeoapi would accept an empty X-API-KEY header for it; give it a random key or remove it`,
        )
      }
    }
    env.PYGEOAPI_KEY_GLOBAL = key
    settings.apiKeyEnvPrefix = 'PYGEOAPI_KEY_'
    settings.apiKeyHeader = 'X-API-KEY'
  }
  if (jwks) {
    const url = get('OAUTH2_JWKS_ENDPOINT')
    if (url === undefined) {
      throw new GatewayError(
        'ERR_MISSING_SETTING',
        `${name('JWKS_ENABLED')} is true but ${name('OAUTH2_JWKS_ENDPOINT')} is not set`,
      )
    }
    const issuer = get('OAUTH2_EXPECTED_ISSUER')
    if (issuer === undefined) {
      throw insecure(
        `${name('OAUTH2_EXPECTED_ISSUER')} is not set, so fastgeoapi would accept tokens from any issuer; set it to your IdP's issuer (the iss claim)`,
      )
    }
    const audience = get('OAUTH2_EXPECTED_AUDIENCE')
    if (audience === undefined) {
      throw insecure(
        `${name('OAUTH2_EXPECTED_AUDIENCE')} is not set, so fastgeoapi would accept a token minted for any service; set it to the aud your IdP puts in tokens for this API`,
      )
    }
    settings.jwksUrl = url
    settings.jwtIssuer = issuer
    settings.jwtAudience = [audience]
    const tokenUrl = get('OAUTH2_TOKEN_ENDPOINT')
    if (tokenUrl !== undefined) settings.tokenUrl = tokenUrl
  }
  if (opa) {
    const opaUrl = get('OPA_URL')
    if (opaUrl === undefined) {
      throw new GatewayError(
        'ERR_MISSING_SETTING',
        `${name('OPA_ENABLED')} is true but ${name('OPA_URL')} is not set`,
      )
    }
    const wellKnown = get('OIDC_WELL_KNOWN_ENDPOINT')
    if (wellKnown === undefined) {
      throw new GatewayError(
        'ERR_MISSING_SETTING',
        `${name('OPA_ENABLED')} is true but ${name('OIDC_WELL_KNOWN_ENDPOINT')} is not set (tokens are checked against that issuer)`,
      )
    }
    const issuer = wellKnown.replace(/\/\.well-known\/openid-configuration\/?$/, '')
    if (issuer === wellKnown) {
      throw new GatewayError(
        'ERR_USAGE',
        `${name('OIDC_WELL_KNOWN_ENDPOINT')} must end in /.well-known/openid-configuration, got ${JSON.stringify(wellKnown)}`,
      )
    }
    const audience = get('OAUTH2_EXPECTED_AUDIENCE')
    if (audience === undefined) {
      throw insecure(
        `${name('OAUTH2_EXPECTED_AUDIENCE')} is not set: fastgeoapi's OPA mode accepts any token its IdP's userinfo accepts, for any audience; set it to the aud that names this API`,
      )
    }
    settings.oidcIssuer = issuer
    settings.oidcAudience = [audience]
    const clientId = get('OIDC_CLIENT_ID')
    const secret = get('OIDC_CLIENT_SECRET')
    if (clientId !== undefined && secret !== undefined) {
      settings.introspectionClientId = clientId
      settings.introspectionClientSecret = secret
    }
    settings.opaUrl = opaUrl
    settings.opaPath = 'httpapi/authz'
    settings.opaInput = 'fastgeoapi'
  }
  return { settings, env }
}
