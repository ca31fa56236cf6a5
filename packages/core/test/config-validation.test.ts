/** validateConfig field by field, provider ids, and redaction of ids that are not ordinary keys. */
import { describe, expect, it } from 'vitest'
import { KeyfobError, redactConfig, validateConfig } from '../src/index.ts'

const SECRET = 'cs-SENTINEL-never-printed'

/** The error validateConfig throws for `config`, or undefined. */
function problem(config: unknown): KeyfobError | undefined {
  try {
    validateConfig(config)
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(KeyfobError)
    return error as KeyfobError
  }
}

const base = { version: 1, apis: {} }
const withProvider = (provider: unknown) => ({ ...base, providers: { egi: provider } })
const issuer = 'https://idp.example'

describe('validateConfig', () => {
  it('accepts every field in its type, and keeps fields it does not know', () => {
    const config = {
      version: 1,
      providers: {
        'egi.dev_2-x': {
          issuer,
          title: 'EGI',
          scopes: ['openid'],
          client: { clientId: 'c', clientSecret: SECRET, grantTypes: ['refresh_token'] },
          defaultClients: [{ clientId: 'd' }],
          authorizationParameters: { prompt: 'login' },
          future: { anything: 1 },
        },
      },
      apis: {
        'https://openeo.example': {
          providers: ['egi.dev_2-x'],
          defaultProvider: 'egi.dev_2-x',
          basic: { username: 'u', password: SECRET },
        },
      },
      defaultProvider: 'egi.dev_2-x',
      defaultAccount: 'work',
    }
    expect(validateConfig(config)).toEqual(config)
  })

  // [what, config, the field the error names]
  const table: Array<[string, unknown, string]> = [
    ['a fractional version', { ...base, version: 1.5, providers: {} }, 'version'],
    ['providers not an object', { ...base, providers: [] }, 'providers'],
    ['a provider that is not an object', withProvider('x'), 'providers.egi'],
    ['a title that is not a string', withProvider({ issuer, title: 1 }), 'providers.egi.title'],
    ['scopes not strings', withProvider({ issuer, scopes: [1] }), 'providers.egi.scopes'],
    ['a client that is not an object', withProvider({ issuer, client: 'c' }), 'providers.egi.client'],
    [
      'an empty clientId',
      withProvider({ issuer, client: { clientId: '' } }),
      'providers.egi.client.clientId',
    ],
    [
      'a numeric client secret',
      withProvider({ issuer, client: { clientId: 'c', clientSecret: 12345 } }),
      'providers.egi.client.clientSecret',
    ],
    [
      'grantTypes not strings',
      withProvider({ issuer, client: { clientId: 'c', grantTypes: 'refresh_token' } }),
      'providers.egi.client.grantTypes',
    ],
    [
      'defaultClients not an array',
      withProvider({ issuer, defaultClients: {} }),
      'providers.egi.defaultClients',
    ],
    [
      'a bad default client',
      withProvider({ issuer, defaultClients: [{ clientId: 'a' }, { clientId: 2 }] }),
      'providers.egi.defaultClients[1].clientId',
    ],
    [
      'a non-string authorization parameter',
      withProvider({ issuer, authorizationParameters: { max_age: 0 } }),
      'providers.egi.authorizationParameters',
    ],
    [
      'an authorization parameter that would replace a protocol parameter',
      withProvider({ issuer, authorizationParameters: { redirect_uri: 'https://evil.example/cb' } }),
      'providers.egi.authorizationParameters',
    ],
    [
      'an unknown token endpoint auth method',
      withProvider({ issuer, client: { clientId: 'c', tokenEndpointAuthMethod: 'private_key_jwt' } }),
      'providers.egi.client.tokenEndpointAuthMethod',
    ],
    [
      'a redirect port out of range',
      withProvider({ issuer, redirectPort: 70_000 }),
      'providers.egi.redirectPort',
    ],
    ['apis not an object', { ...base, providers: {}, apis: 'x' }, 'apis'],
    [
      'an API key that is not a URL',
      { ...base, providers: {}, apis: { 'not a url': {} } },
      'apis["not a url"]',
    ],
    [
      'an API that is not an object',
      { ...base, providers: {}, apis: { 'https://a.example': 1 } },
      'apis["https://a.example"]',
    ],
    [
      'API providers not strings',
      { ...base, providers: {}, apis: { 'https://a.example': { providers: [1] } } },
      'apis["https://a.example"].providers',
    ],
    [
      'a Basic password that is not a string',
      { ...base, providers: {}, apis: { 'https://a.example': { basic: { username: 'u', password: 1 } } } },
      'apis["https://a.example"].basic.password',
    ],
    [
      'a defaultProvider that is not a string',
      { ...base, providers: {}, defaultProvider: 1 },
      'defaultProvider',
    ],
    [
      'a defaultAccount that is not a string',
      { ...base, providers: {}, defaultAccount: false },
      'defaultAccount',
    ],
  ]
  for (const [what, config, field] of table) {
    it(`refuses ${what}, naming ${field}`, () => {
      const error = problem(config)
      expect(error?.code).toBe('ERR_INVALID_CONFIG')
      expect((error?.cause as { field: string } | undefined)?.field).toBe(field)
      expect(error?.message).toContain(field)
    })
  }

  it('never puts a secret value in the message', () => {
    const error = problem(withProvider({ issuer, client: { clientId: 'c', clientSecret: [SECRET] } }))
    expect(error?.code).toBe('ERR_INVALID_CONFIG')
    expect(`${error?.message} ${JSON.stringify(error?.cause)}`).not.toContain(SECRET)
  })

  it('refuses provider ids that are not ordinary names, as keyfob add-oidc does', () => {
    for (const id of [
      '__proto__',
      'constructor',
      'prototype',
      '',
      '-x',
      '.hidden',
      'a b',
      'a/b',
      'x'.repeat(65),
      'é',
    ]) {
      const error = problem(
        JSON.parse(`{"version":1,"apis":{},"providers":{${JSON.stringify(id)}:{"issuer":"${issuer}"}}}`),
      )
      expect([id, error?.code]).toEqual([id, 'ERR_INVALID_CONFIG'])
      expect(error?.message).toContain(JSON.stringify(id))
    }
    for (const id of ['egi', 'EGI-dev', 'a.b_c', '0', 'x'.repeat(64)])
      expect(problem({ ...base, providers: { [id]: { issuer } } })).toBeUndefined()
  })
})

describe('redactConfig', () => {
  it('keeps an entry whose id is __proto__ (and redacts its secret) instead of losing it to the prototype setter', async () => {
    const config = JSON.parse(
      `{"version":1,"providers":{"__proto__":{"issuer":"${issuer}","client":{"clientId":"c","clientSecret":"${SECRET}"}},"ok":{"issuer":"${issuer}"}},"apis":{"__proto__":{"basic":{"username":"u","password":"${SECRET}"}}}}`,
    )
    const redacted = await redactConfig(config)
    expect(Object.keys(redacted.providers).sort()).toEqual(['__proto__', 'ok'])
    expect(Object.keys(redacted.apis)).toEqual(['__proto__'])
    const dump = JSON.stringify(redacted)
    expect(dump).toContain('"__proto__":{"issuer"')
    expect(dump).toContain('<redacted:sha256:')
    expect(dump).not.toContain(SECRET)
  })
})
