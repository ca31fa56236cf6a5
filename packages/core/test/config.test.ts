import { describe, expect, it } from 'vitest'
import {
  authorizationParametersProblem,
  emptyConfig,
  fingerprint,
  isProviderId,
  type KeyfobConfig,
  KeyfobError,
  normalizeApiUrl,
  planScope,
  prepareAuthorization,
  redactConfig,
  redactRecord,
  resolveClient,
  resolveProvider,
  scopeFor,
  TokenSet,
  tokenKeyId,
  validateConfig,
} from '../src/index.ts'

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'
const config: KeyfobConfig = {
  version: 1,
  providers: {
    egi: {
      issuer: 'https://aai.egi.eu/auth/realms/egi',
      defaultClients: [{ clientId: 'dev-pkce', grantTypes: [`${DEVICE}+pkce`] }],
    },
    google: { issuer: 'https://accounts.google.com', client: { clientId: 'g', clientSecret: 'g-secret' } },
  },
  apis: { 'https://openeo.example/api': { providers: ['egi'], basic: { username: 'u', password: 'p4ss' } } },
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(KeyfobError)
    return (error as KeyfobError).code
  }
}

describe('provider resolution', () => {
  it('takes the named provider, else the only one, else the default, else lists the ids', () => {
    expect(resolveProvider(config, { providerId: 'google' }).id).toBe('google')
    expect(resolveProvider(config, { apiUrl: 'openeo.example/api/' }).id).toBe('egi')
    expect(resolveProvider({ ...config, defaultProvider: 'google' }).id).toBe('google')
    expect(codeOf(() => resolveProvider(config))).toBe('ERR_AMBIGUOUS_PROVIDER')
    try {
      resolveProvider(config)
    } catch (error) {
      expect((error as KeyfobError).message).toContain('egi, google')
      expect((error as KeyfobError).cause).toEqual({ available: ['egi', 'google'] })
    }
    expect(codeOf(() => resolveProvider(config, { providerId: 'nope' }))).toBe('ERR_UNKNOWN_PROVIDER')
    expect(codeOf(() => resolveProvider(emptyConfig()))).toBe('ERR_NO_PROVIDER')
  })
})

describe('client resolution', () => {
  const egi = resolveProvider(config, { providerId: 'egi' })
  it('prefers an explicit client, then the configured one, then a default client that supports the grant', () => {
    expect(resolveClient(egi, 'device', { clientId: 'mine' }).clientId).toBe('mine')
    expect(resolveClient(resolveProvider(config, { providerId: 'google' }), 'device').clientId).toBe('g')
    // openEO #530: a device-only default client is fine for a device login.
    expect(resolveClient(egi, 'device').clientId).toBe('dev-pkce')
    expect(codeOf(() => resolveClient(egi, 'client_credentials'))).toBe('ERR_NO_CLIENT')
    expect(codeOf(() => resolveClient(egi, 'refresh_token'))).toBe('ERR_NO_CLIENT')
  })
})

describe('scopes', () => {
  const table: Array<[Parameters<typeof scopeFor>[0], string]> = [
    [{}, 'openid'],
    [{ configured: ['profile'], refresh: true }, 'offline_access openid profile'],
    // A requested scope is never dropped: scopes_supported need not be complete.
    [{ configured: ['profile', 'x'], supported: ['openid', 'profile'], refresh: true }, 'openid profile x'],
    [{ configured: ['read'], openid: false }, 'read'],
    // The independent provider: it lists only openid, the user asked for kf_api.
    [{ configured: ['kf_api'], supported: ['openid'], openid: false }, 'kf_api'],
    [{ configured: ['kf_api'], supported: ['openid'], refresh: true }, 'kf_api openid'],
    // A plain OAuth 2.0 server that lists scopes without openid: keyfob does not add it.
    [{ configured: ['read'], supported: ['read', 'write'] }, 'read'],
    // ...but an explicitly requested openid goes out.
    [{ configured: ['openid', 'read'], supported: ['read'] }, 'openid read'],
  ]
  for (const [input, expected] of table) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      expect(scopeFor(input)).toBe(expected)
    })
  }

  it('explains what it added, left out or sent unlisted', () => {
    expect(planScope({ configured: ['kf_api'], supported: ['openid'], refresh: true })).toEqual({
      scope: 'kf_api openid',
      notes: [
        'added openid: an OpenID Connect login',
        "left out offline_access: the provider's scopes_supported does not list it",
        "sent kf_api although the provider's scopes_supported does not list it (the list need not be complete)",
      ],
    })
    expect(planScope({ configured: ['profile'] }).notes).toEqual(['added openid: an OpenID Connect login'])
  })
})

describe('config validation and URLs', () => {
  it('accepts a good config and names the bad field otherwise', () => {
    expect(validateConfig(config)).toEqual(config)
    expect(codeOf(() => validateConfig([]))).toBe('ERR_INVALID_CONFIG')
    expect(
      codeOf(() => validateConfig({ version: 1, providers: { x: { issuer: 'not a url' } }, apis: {} })),
    ).toBe('ERR_INVALID_CONFIG')
    expect(
      codeOf(() => validateConfig({ version: 1, providers: {}, apis: {}, defaultProvider: 'ghost' })),
    ).toBe('ERR_INVALID_CONFIG')
  })

  it('refuses provider ids outside the id rule and reserved authorization parameters', () => {
    for (const id of ['egi', 'vito.terrascope', 'a_b-c', '9'])
      expect({ id, ok: isProviderId(id) }).toEqual({ id, ok: true })
    for (const id of ['', 'a/b', '-x', 'x y', 'e\u001b]52;c;aGk=\u0007', 'x'.repeat(65)])
      expect({ id, ok: isProviderId(id) }).toEqual({ id, ok: false })
    const withProvider = (id: string, extra: Record<string, unknown> = {}) => ({
      version: 1,
      providers: { [id]: { issuer: 'https://idp.example', ...extra } },
      apis: {},
    })
    expect(codeOf(() => validateConfig(withProvider('a/b')))).toBe('ERR_INVALID_CONFIG')
    const fine = withProvider('egi', { authorizationParameters: { prompt: 'login', acr_values: 'x' } })
    expect(validateConfig(fine)).toEqual(fine)
    for (const name of [
      'redirect_uri',
      'state',
      'client_id',
      'response_type',
      'code_challenge',
      'Code_Challenge_Method',
    ]) {
      expect(authorizationParametersProblem({ [name]: 'x' })).toContain('reserved')
      expect(
        codeOf(() => validateConfig(withProvider('egi', { authorizationParameters: { [name]: 'x' } }))),
      ).toBe('ERR_INVALID_CONFIG')
    }
    expect(authorizationParametersProblem({ prompt: 1 })).toContain('must be a string')
    expect(authorizationParametersProblem(['x'])).toBe('must be an object of strings')
  })

  it('applies extra authorization parameters first and the protocol parameters last', async () => {
    const start = await prepareAuthorization(
      { issuer: 'https://idp.example', authorization_endpoint: 'https://idp.example/authorize' },
      {
        clientId: 'cli',
        redirectUri: 'http://127.0.0.1:4000/callback',
        scope: 'openid',
        state: 'st',
        extra: { prompt: 'login', redirect_uri: 'https://evil.example/', state: 'forged', client_id: 'evil' },
      },
    )
    const params = new URL(start.authorizationUrl).searchParams
    expect(Object.fromEntries(params)).toMatchObject({
      prompt: 'login',
      redirect_uri: 'http://127.0.0.1:4000/callback',
      state: 'st',
      client_id: 'cli',
      response_type: 'code',
      code_challenge_method: 'S256',
    })
  })

  it('normalizes API URLs the same way everywhere', () => {
    expect(normalizeApiUrl('Openeo.Example/api/')).toBe('https://openeo.example/api')
    expect(normalizeApiUrl('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080')
    expect(codeOf(() => normalizeApiUrl('ftp://x'))).toBe('ERR_INVALID_ARGUMENT')
  })

  it('has a stable, unambiguous key id', () => {
    expect(tokenKeyId({ issuer: 'a', clientId: 'b' })).not.toBe(
      tokenKeyId({ issuer: 'a', clientId: 'b', account: 'x' }),
    )
    expect(tokenKeyId({ issuer: 'a', clientId: 'b' })).toBe(tokenKeyId({ issuer: 'a', clientId: 'b' }))
  })
})

describe('TokenSet', () => {
  it('computes expiry from the injected clock and honours margins', () => {
    const t = TokenSet.fromResponse(
      { access_token: 'at', token_type: 'Bearer', expires_in: 300, refresh_expires_in: 1800 },
      1_000,
    )
    expect(t.record).toEqual({
      accessToken: 'at',
      tokenType: 'bearer',
      expiresAt: 301_000,
      refreshExpiresAt: 1_801_000,
      updatedAt: 1_000,
    })
    expect(t.isExpired(300_000)).toBe(false)
    expect(t.isExpired(301_000)).toBe(true)
    expect(t.expiresWithin(241_000, 60_000)).toBe(true)
    expect(t.expiresWithin(240_999, 60_000)).toBe(false)
    expect(t.refreshExpired(1_801_000)).toBe(true)
    expect(TokenSet.fromRecord(t.toRecord()).accessToken).toBe('at')
  })

  it('refuses a response without an access token, naming fields but no values', () => {
    try {
      TokenSet.fromResponse({ token_type: 'bearer', refresh_token: 'secret-rt' } as never, 0)
      throw new Error('expected a throw')
    } catch (error) {
      expect((error as KeyfobError).code).toBe('ERR_INVALID_RESPONSE')
      expect(JSON.stringify((error as KeyfobError).cause)).not.toContain('secret-rt')
    }
  })
})

describe('redaction', () => {
  it('fingerprints secrets, equal for equal secrets, and leaves no secret behind', async () => {
    expect(await fingerprint('s')).toMatch(/^<redacted:sha256:[0-9a-f]{6}>$/)
    expect(await fingerprint('s')).toBe(await fingerprint('s'))
    expect(await fingerprint('s')).not.toBe(await fingerprint('t'))
    const record = await redactRecord({
      accessToken: 'at-secret',
      refreshToken: 'rt-secret',
      idToken: 'id-secret',
      scope: 'openid',
      updatedAt: 1,
    })
    expect(JSON.stringify(record)).not.toMatch(/at-secret|rt-secret|id-secret/)
    expect(record.scope).toBe('openid')
    const dump = JSON.stringify(await redactConfig(config))
    expect(dump).not.toMatch(/g-secret|p4ss/)
    expect(dump).toContain('dev-pkce')
  })
})
