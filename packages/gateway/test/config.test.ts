/** Settings: precedence of flags, environment and files; refusals with the flag or variable to set. */
import { describe, expect, it } from 'vitest'
import { fromFastgeoapiEnv, GatewayError, type GatewaySettings, loadConfig } from '../src/index.ts'

const UPSTREAM = ['--upstream', 'http://127.0.0.1:5000']
const JWT = ['--jwt-issuer', 'https://idp.example', '--jwt-audience', 'https://api.example/geoapi']

function settings(
  argv: readonly string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): GatewaySettings {
  const loaded = loadConfig({
    argv,
    env,
    readFile: (path) => {
      const text = files[path]
      if (text === undefined) throw new Error('ENOENT')
      return text
    },
    fastgeoapi: fromFastgeoapiEnv,
  })
  if (loaded.help) throw new Error('unexpected --help')
  return loaded.settings
}

function refusal(
  argv: readonly string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): GatewayError {
  try {
    settings(argv, env, files)
  } catch (error) {
    if (error instanceof GatewayError) return error
    throw error
  }
  throw new Error('expected a GatewayError')
}

describe('loadConfig', () => {
  it('has safe defaults: loopback, port 8080, the landing page, OpenAPI and conformance public', () => {
    const s = settings([...UPSTREAM, ...JWT])
    expect(s.hostname).toBe('127.0.0.1')
    expect(s.port).toBe(8080)
    expect(s.public).toEqual(['GET /', 'GET /openapi', 'GET /conformance'])
    expect(s.forwardCredential).toBe(false)
    expect(s.subjectHeader).toBe('X-Auth-Request-User')
    expect(s.mount).toBe('')
  })

  it('flags beat the environment, which beats the env file, which beats the config file', () => {
    const files = {
      'gw.env':
        'KEYFOB_GUARD_PORT=7001\nKEYFOB_GUARD_MOUNT=/from-env-file\nKEYFOB_GUARD_HOSTNAME=127.0.0.3\n',
      'gw.json': JSON.stringify({ port: 7000, mount: '/from-config', hostname: '127.0.0.4', workers: 3 }),
    }
    const env = { KEYFOB_GUARD_PORT: '7002', KEYFOB_GUARD_MOUNT: '/from-env' }
    const argv = [...UPSTREAM, ...JWT, '--env-file', 'gw.env', '--config', 'gw.json']
    const s = settings([...argv, '--port', '7003'], env, files)
    expect(s.port).toBe(7003)
    expect(s.mount).toBe('/from-env')
    expect(s.hostname).toBe('127.0.0.3')
    expect(s.workers).toBe(3)
    expect(settings(argv, env, files).port).toBe(7002)
    expect(settings(argv, {}, files).port).toBe(7001)
  })

  it('reads API keys from the env file and the environment, the environment winning', () => {
    const s = settings(
      ['--upstream=http://127.0.0.1:5000', '--api-key-env-prefix', 'PYGEOAPI_KEY_', '--env-file', 'k.env'],
      { PYGEOAPI_KEY_B: 'from-env' },
      {
        'k.env': 'PYGEOAPI_KEY_A=from-file\nPYGEOAPI_KEY_B=overridden\n',
      },
    )
    expect(s.env.PYGEOAPI_KEY_A).toBe('from-file')
    expect(s.env.PYGEOAPI_KEY_B).toBe('from-env')
  })

  it('refuses to start without a mode unless --allow-unauthenticated', () => {
    const error = refusal(UPSTREAM)
    expect(error.code).toBe('ERR_NO_MODE')
    expect(error.message).toContain('--allow-unauthenticated')
    expect(settings([...UPSTREAM, '--allow-unauthenticated']).allowUnauthenticated).toBe(true)
    expect(refusal([...UPSTREAM, ...JWT, '--allow-unauthenticated']).code).toBe('ERR_USAGE')
  })

  it('two modes are mutually exclusive unless --combine says how they combine', () => {
    const two = [...UPSTREAM, ...JWT, '--api-key-env-prefix', 'PYGEOAPI_KEY_']
    const error = refusal(two)
    expect(error.code).toBe('ERR_MUTUALLY_EXCLUSIVE')
    expect(error.message).toContain('are mutually exclusive')
    expect(error.message).toContain('--combine')
    expect(settings([...two, '--combine', 'first-present']).combine).toBe('first-present')
    expect(refusal([...two, '--combine', 'any']).code).toBe('ERR_USAGE')
  })

  it('JWT and OIDC modes need an expected issuer and audience, named by flag and variable', () => {
    const noAudience = refusal([...UPSTREAM, '--jwt-issuer', 'https://idp.example'])
    expect(noAudience.code).toBe('ERR_MISSING_SETTING')
    expect(noAudience.message).toContain('--jwt-audience (KEYFOB_GUARD_JWT_AUDIENCE)')
    const noIssuer = refusal([...UPSTREAM, '--jwks-url', 'https://idp.example/jwks', '--jwt-audience', 'a'])
    expect(noIssuer.message).toContain('--jwt-issuer')
    expect(refusal([...UPSTREAM, '--oidc-issuer', 'https://idp.example']).message).toContain(
      '--oidc-audience',
    )
  })

  it('usage errors: unknown flags (with a suggestion), bad numbers, booleans, mounts and upstreams', () => {
    const typo = refusal([...UPSTREAM, ...JWT, '--jwt-audiance', 'x'])
    expect(typo.code).toBe('ERR_USAGE')
    expect(typo.message).toContain('did you mean --jwt-audience?')
    expect(refusal([...UPSTREAM, ...JWT, '--port', 'eighty']).code).toBe('ERR_USAGE')
    expect(refusal([...UPSTREAM, ...JWT, '--claims', 'company']).code).toBe('ERR_USAGE')
    expect(refusal([...UPSTREAM, ...JWT], { KEYFOB_GUARD_FORWARD_CREDENTIAL: 'maybe' }).code).toBe(
      'ERR_USAGE',
    )
    expect(refusal([...UPSTREAM, ...JWT, '--mount', 'geoapi']).code).toBe('ERR_USAGE')
    expect(
      refusal([...UPSTREAM, ...JWT, '--opa-url', 'http://127.0.0.1:8181', '--opa-input', 'rego']).code,
    ).toBe('ERR_USAGE')
    // fastgeoapi's input is the IdP's userinfo: without an OIDC issuer there is none.
    expect(
      refusal([...UPSTREAM, ...JWT, '--opa-url', 'http://127.0.0.1:8181', '--opa-input', 'fastgeoapi'])
        .message,
    ).toContain('--oidc-issuer')
    expect(settings([...UPSTREAM, ...JWT]).opaInput).toBe('keyfob')
    expect(refusal(['--upstream', 'ftp://x', ...JWT]).code).toBe('ERR_USAGE')
    expect(refusal(JWT).code).toBe('ERR_MISSING_SETTING')
    expect(refusal([...UPSTREAM, ...JWT, '--config', 'missing.json']).code).toBe('ERR_FILE')
    expect(
      refusal([...UPSTREAM, ...JWT, '--config', 'c.json'], {}, { 'c.json': '{"prot": 1}' }).message,
    ).toContain('did you mean')
    expect(settings([...UPSTREAM, ...JWT, '--mount', '/geoapi/']).mount).toBe('/geoapi')
    expect(settings([...UPSTREAM, ...JWT, '--no-access-log']).accessLog).toBe(false)
    expect(loadConfig({ argv: ['--help'], env: {} }).help).toBe(true)
    expect(loadConfig({ argv: ['--version'], env: {} })).toEqual({ help: true, version: true })
  })
})

describe('fastgeoapi .env', () => {
  const base = {
    ENV_STATE: 'dev',
    DEV_FASTGEOAPI_CONTEXT: '/geoapi',
    DEV_PYGEOAPI_SECURITY_SCHEME: 'http',
    DEV_API_KEY_ENABLED: 'false',
    DEV_JWKS_ENABLED: 'false',
    DEV_OPA_ENABLED: 'false',
  }
  const file = (vars: Record<string, string>) => ({
    'fastgeoapi.env': Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  })
  const fromEnv = (vars: Record<string, string>, env: Record<string, string> = {}) =>
    settings([...UPSTREAM, '--fastgeoapi-env', 'fastgeoapi.env'], env, file(vars))
  const refused = (vars: Record<string, string>, env: Record<string, string> = {}) =>
    refusal([...UPSTREAM, '--fastgeoapi-env', 'fastgeoapi.env'], env, file(vars))

  it('API-key mode: X-API-KEY, PYGEOAPI_KEY_GLOBAL and any other PYGEOAPI_KEY_*', () => {
    const s = fromEnv(
      { ...base, DEV_API_KEY_ENABLED: 'true', DEV_PYGEOAPI_KEY_GLOBAL: 'global-key-0123456789' },
      { PYGEOAPI_KEY_PARTNER: 'partner-key-0123456789' },
    )
    expect(s.mount).toBe('/geoapi')
    expect(s.apiKeyEnvPrefix).toBe('PYGEOAPI_KEY_')
    expect(s.apiKeyHeader).toBe('X-API-KEY')
    expect(s.env.PYGEOAPI_KEY_GLOBAL).toBe('global-key-0123456789')
    expect(s.env.PYGEOAPI_KEY_PARTNER).toBe('partner-key-0123456789')
  })

  it('JWKS mode, with the PROD_ prefix under ENV_STATE=prod', () => {
    const s = fromEnv({
      ENV_STATE: 'prod',
      PROD_FASTGEOAPI_CONTEXT: '/geoapi',
      PROD_JWKS_ENABLED: 'True',
      PROD_OAUTH2_JWKS_ENDPOINT: 'https://idp.example/jwks',
      PROD_OAUTH2_TOKEN_ENDPOINT: 'https://idp.example/token',
      PROD_OAUTH2_EXPECTED_ISSUER: 'https://idp.example',
      PROD_OAUTH2_EXPECTED_AUDIENCE: 'http://localhost:5000/geoapi/',
      DEV_JWKS_ENABLED: 'false',
    })
    expect(s.jwksUrl).toBe('https://idp.example/jwks')
    expect(s.jwtIssuer).toBe('https://idp.example')
    expect(s.jwtAudience).toEqual(['http://localhost:5000/geoapi/'])
    expect(s.tokenUrl).toBe('https://idp.example/token')
  })

  it("OPA mode: OIDC against the well-known issuer, introspection with the OIDC client, OPA at httpapi/authz with fastgeoapi's input", () => {
    const s = fromEnv({
      ...base,
      DEV_OPA_ENABLED: 'true',
      DEV_OPA_URL: 'http://127.0.0.1:8383',
      DEV_OIDC_WELL_KNOWN_ENDPOINT: 'http://127.0.0.1:8282/realms/pygeoapi/.well-known/openid-configuration',
      DEV_OIDC_CLIENT_ID: 'pygeoapi-client',
      DEV_OIDC_CLIENT_SECRET: 'client-secret-value',
      DEV_OAUTH2_EXPECTED_AUDIENCE: 'pygeoapi',
    })
    expect(s.oidcIssuer).toBe('http://127.0.0.1:8282/realms/pygeoapi')
    expect(s.oidcAudience).toEqual(['pygeoapi'])
    expect(s.introspectionClientId).toBe('pygeoapi-client')
    expect(s.opaUrl).toBe('http://127.0.0.1:8383')
    expect(s.opaPath).toBe('httpapi/authz')
    expect(s.opaInput).toBe('fastgeoapi')
  })

  it('flags still win over the fastgeoapi .env', () => {
    const s = settings(
      [...UPSTREAM, '--fastgeoapi-env', 'fastgeoapi.env', '--mount', '/other'],
      {},
      file({ ...base, DEV_API_KEY_ENABLED: 'true', DEV_PYGEOAPI_KEY_GLOBAL: 'global-key-0123456789' }),
    )
    expect(s.mount).toBe('/other')
  })

  it('refuses each configuration fastgeoapi would run insecurely, naming the variable to set', () => {
    const jwks = { ...base, DEV_JWKS_ENABLED: 'true', DEV_OAUTH2_JWKS_ENDPOINT: 'https://idp.example/jwks' }
    const cases: [Record<string, string>, Record<string, string>, string][] = [
      [{ ...jwks, DEV_OAUTH2_EXPECTED_AUDIENCE: 'api' }, {}, 'DEV_OAUTH2_EXPECTED_ISSUER'],
      [{ ...jwks, DEV_OAUTH2_EXPECTED_ISSUER: 'https://idp.example' }, {}, 'DEV_OAUTH2_EXPECTED_AUDIENCE'],
      [{ ...base, DEV_API_KEY_ENABLED: 'true', DEV_PYGEOAPI_KEY_GLOBAL: '' }, {}, 'DEV_PYGEOAPI_KEY_GLOBAL'],
      [
        { ...base, DEV_API_KEY_ENABLED: 'true', DEV_PYGEOAPI_KEY_GLOBAL: 'global-key-0123456789' },
        { PYGEOAPI_KEY_OLD: '' },
        'PYGEOAPI_KEY_OLD',
      ],
      [
        {
          ...base,
          DEV_OPA_ENABLED: 'true',
          DEV_OPA_URL: 'http://127.0.0.1:8383',
          DEV_OIDC_WELL_KNOWN_ENDPOINT: 'https://idp.example/.well-known/openid-configuration',
        },
        {},
        'DEV_OAUTH2_EXPECTED_AUDIENCE',
      ],
    ]
    for (const [vars, env, variable] of cases) {
      const error = refused(vars, env)
      expect(error.code).toBe('ERR_INSECURE_SETTING')
      expect(error.message).toContain(variable)
    }
  })

  it("no mode is refused (fastgeoapi would serve an open API); two modes give fastgeoapi's own error", () => {
    expect(refused(base).code).toBe('ERR_NO_MODE')
    const two = refused({
      ...base,
      DEV_API_KEY_ENABLED: 'true',
      DEV_PYGEOAPI_KEY_GLOBAL: 'global-key-0123456789',
      DEV_JWKS_ENABLED: 'true',
    })
    expect(two.code).toBe('ERR_MUTUALLY_EXCLUSIVE')
    expect(two.message).toContain(
      'DEV_OPA_ENABLED, DEV_JWKS_ENABLED and DEV_API_KEY_ENABLED are mutually exclusive',
    )
    expect(refused({ ...base, ENV_STATE: 'staging' }).message).toContain('ENV_STATE must be dev or prod')
  })
})

describe('DPoP settings', () => {
  const jwt = [
    '--upstream',
    'http://127.0.0.1:5000',
    '--jwt-issuer',
    'https://idp.example',
    '--jwt-audience',
    'a',
  ]
  const settings = (argv: readonly string[], env: Record<string, string> = {}): GatewaySettings => {
    const loaded = loadConfig({ argv, env })
    if (loaded.help) throw new Error('unexpected --help')
    return loaded.settings
  }
  const codeOf = (argv: readonly string[], env: Record<string, string> = {}): string | undefined => {
    try {
      loadConfig({ argv, env })
      return undefined
    } catch (error) {
      return error instanceof GatewayError ? error.code : String(error)
    }
  }

  it('reads --dpop, --dpop-required (which implies --dpop), --dpop-nonce and the secret from the environment', () => {
    expect(settings(jwt).dpop).toBe(false)
    const required = settings(
      [...jwt, '--dpop-required', '--dpop-nonce', '--public-origin', 'https://api.example'],
      {
        KEYFOB_GUARD_DPOP_NONCE_SECRET: 's'.repeat(32),
      },
    )
    expect(required.dpop).toBe(true)
    expect(required.dpopRequired).toBe(true)
    expect(required.dpopNonce).toBe(true)
    expect(required.dpopNonceSecret).toBe('s'.repeat(32))
    expect(required.publicOrigin).toBe('https://api.example')
    expect(settings(jwt, { KEYFOB_GUARD_DPOP: 'true' }).dpop).toBe(true)
  })

  it('refuses DPoP without a token mode, a short nonce secret and a public origin with a path', () => {
    expect(codeOf(['--upstream', 'http://127.0.0.1:5000', '--allow-unauthenticated', '--dpop'])).toBe(
      'ERR_USAGE',
    )
    expect(codeOf([...jwt, '--dpop-nonce'], { KEYFOB_GUARD_DPOP_NONCE_SECRET: 'short' })).toBe('ERR_USAGE')
    expect(codeOf([...jwt, '--dpop', '--public-origin', 'https://api.example/geoapi'])).toBe('ERR_USAGE')
    expect(codeOf([...jwt, '--dpop', '--public-origin', 'ftp://api.example'])).toBe('ERR_USAGE')
  })
})
