/** Provider sources: openEO's `GET /credentials/oidc`, and a client composed from parts. */
import {
  emptyConfig,
  type KeyfobConfig,
  KeyfobError,
  resolveClient,
  resolveProvider,
  type TokenKey,
  type TokenRecord,
  type TokenStore,
  tokenKeyId,
  updateUnderLock,
} from '@keyfob/core'
import { createMockIdp } from '@keyfob/mock-idp'
import { describe, expect, it } from 'vitest'
import {
  deviceLogin,
  discoverOpenEoApi,
  openEoAuthorization,
  openEoBasicLogin,
  openEoBearer,
  openEoProviderSource,
  openEoTokenRejected,
  parseOpenEoProviders,
  printable,
  Session,
  withAdvertisedProviders,
} from '../src/index.ts'

const DEVICE_PKCE = 'urn:ietf:params:oauth:grant-type:device_code+pkce'

function errorOf(fn: () => unknown): KeyfobError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(KeyfobError)
    return error as KeyfobError
  }
  throw new Error('expected a KeyfobError')
}

describe('parseOpenEoProviders', () => {
  it('reads providers in order, with scopes, default clients and authorization parameters', () => {
    const warnings: string[] = []
    const providers = parseOpenEoProviders(
      {
        providers: [
          {
            id: 'egi',
            issuer: 'https://aai.egi.example/oidc',
            title: 'EGI',
            scopes: ['openid', 'email'],
            default_clients: [
              { id: 'default', grant_types: [DEVICE_PKCE, 'refresh_token', 'made_up'], redirect_urls: [] },
              { grant_types: ['refresh_token'] },
              { id: 'nothing' },
            ],
            authorization_parameters: { prompt: 'consent' },
            extra: 'ignored',
          },
          { id: 'other', issuer: 'https://other.example', title: 'Other' },
        ],
      },
      'https://api.example/credentials/oidc',
      (w) => warnings.push(w),
    )
    expect(providers).toEqual([
      {
        id: 'egi',
        issuer: 'https://aai.egi.example/oidc',
        title: 'EGI',
        scopes: ['openid', 'email'],
        defaultClients: [
          { clientId: 'default', grantTypes: [DEVICE_PKCE, 'refresh_token'] },
          { clientId: 'nothing', grantTypes: [] },
        ],
        authorizationParameters: { prompt: 'consent' },
      },
      { id: 'other', issuer: 'https://other.example', title: 'Other' },
    ])
    expect(warnings).toHaveLength(3)
    expect(warnings[0]).toContain('unknown grant type "made_up"')
    expect(warnings[1]).toContain('default_clients[1] has no id')
    expect(warnings[2]).toContain('default_clients[2] lists no grant_types')
  })

  const bad: Array<[string, unknown, string, string]> = [
    ['not an object', 'x', 'ERR_INVALID_RESPONSE', '"providers" array'],
    ['no providers key', {}, 'ERR_INVALID_RESPONSE', '"providers" array'],
    ['an empty list', { providers: [] }, 'ERR_NO_PROVIDER', 'lists no OpenID Connect providers'],
    [
      'a provider without id',
      { providers: [{ issuer: 'https://i', title: 't' }] },
      'ERR_INVALID_RESPONSE',
      'providers[0].id',
    ],
    [
      'a provider without title',
      { providers: [{ id: 'a', issuer: 'https://i' }] },
      'ERR_INVALID_RESPONSE',
      'providers[0].title',
    ],
    [
      'a relative issuer',
      { providers: [{ id: 'a', issuer: '/oidc', title: 't' }] },
      'ERR_INVALID_RESPONSE',
      'not an absolute URL',
    ],
    [
      'a duplicate id',
      {
        providers: [
          { id: 'a', issuer: 'https://i', title: 't' },
          { id: 'a', issuer: 'https://j', title: 'u' },
        ],
      },
      'ERR_INVALID_RESPONSE',
      'appears twice',
    ],
    [
      'scopes not strings',
      { providers: [{ id: 'a', issuer: 'https://i', title: 't', scopes: [1] }] },
      'ERR_INVALID_RESPONSE',
      'scopes',
    ],
    [
      'parameters not strings',
      { providers: [{ id: 'a', issuer: 'https://i', title: 't', authorization_parameters: { a: 1 } }] },
      'ERR_INVALID_RESPONSE',
      'authorization_parameters',
    ],
  ]
  for (const [what, document, code, text] of bad) {
    it(`refuses ${what} with ${code}`, () => {
      const error = errorOf(() => parseOpenEoProviders(document, 'https://api.example/credentials/oidc'))
      expect(error.code).toBe(code)
      expect(error.message).toContain(text)
      expect(error.message).toContain('https://api.example/credentials/oidc')
    })
  }
})

describe('openEoProviderSource', () => {
  it('fetches <api>/credentials/oidc with https:// assumed and a normalized base', async () => {
    const urls: string[] = []
    const source = openEoProviderSource('OpenEO.Example/api/v1/', {
      fetch: async (input) => {
        urls.push(String(input))
        return Response.json({ providers: [{ id: 'a', issuer: 'https://i.example', title: 'A' }] })
      },
    })
    expect(source.apiUrl).toBe('https://openeo.example/api/v1')
    expect(await source.providers()).toEqual([{ id: 'a', issuer: 'https://i.example', title: 'A' }])
    // The well-known document is not a version list here: the URL given is the API root (as openEO).
    expect(urls).toEqual([
      'https://openeo.example/api/v1/.well-known/openeo',
      'https://openeo.example/api/v1/credentials/oidc',
    ])
  })

  it('follows /.well-known/openeo to the API root, unless told not to', async () => {
    const urls: string[] = []
    const fetch = async (input: string | URL | Request) => {
      urls.push(String(input))
      return String(input).endsWith('/.well-known/openeo')
        ? Response.json({ versions: [{ url: 'https://openeo.example/openeo/1.2/', api_version: '1.2.0' }] })
        : Response.json({ providers: [{ id: 'a', issuer: 'https://i.example', title: 'A' }] })
    }
    const source = openEoProviderSource('https://openeo.example', { fetch })
    expect(source.apiUrl).toBe('https://openeo.example')
    await source.providers()
    expect(urls).toEqual([
      'https://openeo.example/.well-known/openeo',
      'https://openeo.example/openeo/1.2/credentials/oidc',
    ])
    urls.length = 0
    await openEoProviderSource('https://openeo.example/x', { fetch, versionDiscovery: false }).providers()
    expect(urls).toEqual(['https://openeo.example/x/credentials/oidc'])
  })

  const faults: Array<[string, () => Promise<Response>, string]> = [
    ['a 404', async () => new Response('no', { status: 404 }), 'ERR_INVALID_RESPONSE'],
    [
      'an HTML page',
      async () => new Response('<html>', { headers: { 'content-type': 'text/html' } }),
      'ERR_INVALID_RESPONSE',
    ],
    [
      'a network failure',
      async () => {
        throw new TypeError('fetch failed')
      },
      'ERR_NETWORK',
    ],
  ]
  for (const [what, answer, code] of faults) {
    it(`turns ${what} into ${code}`, async () => {
      const source = openEoProviderSource('https://api.example', { fetch: answer })
      await expect(source.providers()).rejects.toMatchObject({ code })
    })
  }

  it('times out a hung API with ERR_TIMEOUT', async () => {
    const source = openEoProviderSource('https://api.example', {
      timeoutMs: 50,
      fetch: (_input, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason))
        }),
    })
    await expect(source.providers()).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
  })
})

describe('discoverOpenEoApi (openEO Connection.version_discovery)', () => {
  const answer =
    (body: unknown, status = 200) =>
    async () =>
      status === 200 ? Response.json(body) : new Response('no', { status })
  const cases: Array<[string, () => Promise<Response>, string]> = [
    [
      'production versions first, highest first',
      answer({
        versions: [
          { url: 'https://b.example/openeo/1.1', api_version: '1.1.0' },
          { url: 'https://b.example/openeo/1.3', api_version: '1.3.0', production: false },
          { url: 'https://b.example/openeo/1.2', api_version: '1.2.0', production: true },
          { url: 'https://b.example/openeo/0.9', api_version: '0.9.9' },
        ],
      }),
      'https://b.example/openeo/1.2',
    ],
    [
      'numeric, not text, order (1.10 > 1.9)',
      answer({
        versions: [
          { url: 'https://b.example/v1.9', api_version: '1.9.0' },
          { url: 'https://b.example/v1.10', api_version: '1.10.0' },
        ],
      }),
      'https://b.example/v1.10',
    ],
    [
      'only non-production versions: the highest of them',
      answer({
        versions: [
          { url: 'https://b.example/dev1', api_version: '1.1.0', production: false },
          { url: 'https://b.example/dev2', api_version: '1.2.0', production: false },
        ],
      }),
      'https://b.example/dev2',
    ],
    [
      'only versions below 1.0.0: the URL given',
      answer({ versions: [{ url: 'https://b.example/old', api_version: '0.4.2' }] }),
      'https://b.example',
    ],
    ['a 404: the URL given', answer(null, 404), 'https://b.example'],
    ['not JSON: the URL given', async () => new Response('<html>'), 'https://b.example'],
    [
      'a non-http version URL: skipped',
      answer({ versions: [{ url: 'file:///etc/passwd', api_version: '1.2.0' }] }),
      'https://b.example',
    ],
    [
      'a network failure: the URL given',
      async () => {
        throw new TypeError('fetch failed')
      },
      'https://b.example',
    ],
  ]
  for (const [what, fetch, expected] of cases)
    it(what, async () => {
      expect(await discoverOpenEoApi('b.example/', { fetch })).toBe(expected)
    })
})

describe('hostile APIs', () => {
  const where = 'https://api.example/credentials/oidc'
  const one = (provider: Record<string, unknown>) => ({
    providers: [{ id: 'egi', issuer: 'https://i.example', title: 'EGI', ...provider }],
  })
  it('refuses ids outside the provider id rule, quoting them with escapes', () => {
    for (const id of ['evil\u001b]52;c;ZXZpbA==\u0007', 'a/b', 'x y', '\u009b2K']) {
      const error = errorOf(() => parseOpenEoProviders(one({ id }), where))
      expect(error.code).toBe('ERR_INVALID_RESPONSE')
      expect(error.message).toContain('not a valid provider id')
      expect(printable(error.message)).toBe(error.message) // no control character left
    }
  })

  it('strips control characters from titles and refuses issuers with them', () => {
    const [provider] = parseOpenEoProviders(
      one({ title: 'EGI\u001b[2K\r\u001b]52;c;ZXZpbA==\u0007 Check-in' }),
      where,
    )
    expect(provider?.title).toBe('EGI[2K]52;c;ZXZpbA== Check-in')
    expect(printable('a\u0000b\u007fc\u0085d')).toBe('abcd')
    const error = errorOf(() => parseOpenEoProviders(one({ issuer: 'https://i.example/\u001b[2K' }), where))
    expect(error.message).toContain('\\u001b')
    expect(errorOf(() => parseOpenEoProviders(one({ issuer: 'javascript:alert(1)' }), where)).code).toBe(
      'ERR_INVALID_RESPONSE',
    )
  })

  it('refuses authorization_parameters naming a protocol parameter', () => {
    for (const name of [
      'redirect_uri',
      'state',
      'client_id',
      'response_type',
      'code_challenge',
      'code_challenge_method',
    ]) {
      const error = errorOf(() =>
        parseOpenEoProviders(one({ authorization_parameters: { [name]: 'x' } }), where),
      )
      expect(error.code).toBe('ERR_INVALID_RESPONSE')
      expect(error.message).toContain(`"${name}"`)
    }
    expect(
      parseOpenEoProviders(one({ authorization_parameters: { prompt: 'login' } }), where)[0],
    ).toMatchObject({
      authorizationParameters: { prompt: 'login' },
    })
  })
})

describe('withAdvertisedProviders', () => {
  it('never silently rewrites a configured provider’s parameters or scopes', () => {
    const start: KeyfobConfig = {
      ...emptyConfig(),
      providers: {
        egi: {
          issuer: 'https://egi.example',
          authorizationParameters: { prompt: 'login' },
          scopes: ['email'],
        },
      },
    }
    const warnings: string[] = []
    const config = withAdvertisedProviders(
      start,
      'https://api.example',
      [
        {
          id: 'egi',
          issuer: 'https://egi.example',
          title: 'EGI',
          authorizationParameters: { prompt: 'none' },
          defaultClients: [{ clientId: 'd', grantTypes: ['refresh_token'] }],
        },
      ],
      { onWarning: (w) => warnings.push(w) },
    )
    expect(config.providers.egi).toEqual({
      issuer: 'https://egi.example',
      title: 'EGI',
      authorizationParameters: { prompt: 'login' },
      scopes: ['email'],
      defaultClients: [{ clientId: 'd', grantTypes: ['refresh_token'] }],
    })
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toContain('keeping the configured scopes')
    expect(warnings[1]).toContain('keeping the configured authorizationParameters {"prompt":"login"}')
  })

  it('adds providers in the API order and keeps a locally configured client', () => {
    const start: KeyfobConfig = {
      ...emptyConfig(),
      providers: { egi: { issuer: 'https://egi.example', client: { clientId: 'mine', clientSecret: 's' } } },
    }
    const config = withAdvertisedProviders(start, 'https://api.example/', [
      { id: 'b', issuer: 'https://b.example', title: 'B' },
      {
        id: 'egi',
        issuer: 'https://egi.example',
        title: 'EGI',
        defaultClients: [{ clientId: 'd', grantTypes: [] }],
      },
    ])
    expect(config.apis).toEqual({ 'https://api.example': { providers: ['b', 'egi'] } })
    expect(config.providers.egi).toEqual({
      issuer: 'https://egi.example',
      title: 'EGI',
      defaultClients: [{ clientId: 'd', grantTypes: [] }],
      client: { clientId: 'mine', clientSecret: 's' },
    })
    expect(start.apis).toEqual({}) // not mutated
  })

  it('refuses a provider id that the configuration uses for another issuer', () => {
    const start: KeyfobConfig = { ...emptyConfig(), providers: { egi: { issuer: 'https://egi.example' } } }
    const error = errorOf(() =>
      withAdvertisedProviders(start, 'https://api.example', [
        { id: 'egi', issuer: 'https://evil.example', title: 'E' },
      ]),
    )
    expect(error.code).toBe('ERR_INVALID_CONFIG')
  })
})

describe('openEO helpers', () => {
  it('formats the openEO bearer and refuses an id with a slash', () => {
    expect(openEoAuthorization('egi')('tok')).toBe('Bearer oidc/egi/tok')
    expect(openEoBearer('egi', 'tok')).toBe('oidc/egi/tok')
    expect(errorOf(() => openEoAuthorization('a/b')).code).toBe('ERR_INVALID_ARGUMENT')
    expect(errorOf(() => openEoBearer('', 'tok')).code).toBe('ERR_INVALID_ARGUMENT')
  })

  it('logs in with Basic credentials at /credentials/basic, as openEO does', async () => {
    const seen: Array<[string, string | null]> = []
    const fetch = async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input)
      const authorization = new Headers(init?.headers).get('authorization')
      seen.push([url, authorization])
      if (url.endsWith('/.well-known/openeo'))
        return Response.json({ versions: [{ url: 'https://b.example/openeo/1.2', api_version: '1.2.0' }] })
      return authorization === `Basic ${btoa('alice:s3cret')}`
        ? Response.json({ access_token: 'b-tok' })
        : Response.json({ code: 'CredentialsInvalid' }, { status: 403 })
    }
    expect(
      await openEoBasicLogin('https://b.example', { username: 'alice', password: 's3cret', fetch }),
    ).toEqual({
      apiRoot: 'https://b.example/openeo/1.2',
      bearer: 'basic//b-tok',
    })
    expect(seen[1]?.[0]).toBe('https://b.example/openeo/1.2/credentials/basic')
    const denied = await openEoBasicLogin('https://b.example', {
      username: 'alice',
      password: 'nope',
      fetch,
    }).catch((e: KeyfobError) => e)
    expect(denied).toMatchObject({ code: 'ERR_ACCESS_DENIED' })
    expect((denied as Error).message).toContain('"alice"')
    expect((denied as Error).message).not.toContain('nope')
    const missing = await openEoBasicLogin('https://b.example', {
      username: 'a',
      password: 'b',
      versionDiscovery: false,
      fetch: async () => new Response('no', { status: 404 }),
    }).catch((e: KeyfobError) => e)
    expect(missing).toMatchObject({ code: 'ERR_UNSUPPORTED' })
  })

  it('treats only 401/403 TokenInvalid as a rejected token', async () => {
    const cases: Array<[Response, boolean]> = [
      [Response.json({ code: 'TokenInvalid' }, { status: 403 }), true],
      [Response.json({ code: 'TokenInvalid' }, { status: 401 }), true],
      [Response.json({ code: 'AuthenticationRequired' }, { status: 401 }), false],
      [Response.json({ code: 'TokenInvalid' }, { status: 500 }), false],
      [new Response('<html>', { status: 403 }), false],
    ]
    for (const [response, expected] of cases) expect(await openEoTokenRejected(response)).toBe(expected)
  })
})

describe('compose your own client (openEO style)', () => {
  it('source → config → provider and client → session → API call, refreshing after expiry', async () => {
    const idp = await createMockIdp({
      lifetimes: { accessTokenS: 300 },
      clients: [
        {
          clientId: 'openeo-cli',
          grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        },
      ],
    })
    idp.control.clock.freeze()
    const apiUrl = 'https://openeo.test/v1'
    // The API: advertises the IdP, and accepts `Bearer oidc/mock/<token>` the IdP vouches for.
    const api = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init)
      const path = new URL(request.url).pathname
      if (path === '/v1/credentials/oidc') {
        return Response.json({
          providers: [
            {
              id: 'mock',
              issuer: idp.issuer,
              title: 'Mock IdP',
              scopes: ['openid'],
              default_clients: [{ id: 'openeo-cli', grant_types: [DEVICE_PKCE, 'refresh_token'] }],
            },
          ],
        })
      }
      const match = /^Bearer oidc\/mock\/(.+)$/.exec(request.headers.get('authorization') ?? '')
      if (!match) return Response.json({ code: 'AuthenticationRequired' }, { status: 401 })
      const info = await idp.fetch(`${idp.issuer}/userinfo`, {
        headers: { authorization: `Bearer ${match[1]}` },
      })
      if (info.status !== 200) return Response.json({ code: 'TokenInvalid' }, { status: 403 })
      return Response.json({ user: (await info.json()).sub })
    }

    const source = openEoProviderSource(apiUrl, { fetch: api })
    const config = withAdvertisedProviders(emptyConfig(), source.apiUrl, await source.providers())
    const provider = resolveProvider(config, { apiUrl })
    const client = resolveClient(provider, 'device')
    expect([provider.id, client.clientId]).toEqual(['mock', 'openeo-cli'])

    const records = new Map<string, TokenRecord>()
    const store: TokenStore = {
      kind: 'memory',
      get: async (key) => records.get(tokenKeyId(key)),
      set: async (key, record) => void records.set(tokenKeyId(key), record),
      delete: async (key) => records.delete(tokenKeyId(key)),
      list: async () => [],
      lock: (_key: TokenKey, fn) => fn(),
      update: (key, fn) => updateUnderLock(store, key, fn),
    }
    let logins = 0
    const session = new Session({
      issuer: provider.provider.issuer,
      client,
      store,
      fetch: idp.fetch,
      now: () => idp.control.clock.now(),
      apiOrigins: [apiUrl],
      apiFetch: (request) => api(request),
      authorization: openEoAuthorization(provider.id),
      tokenRejected: openEoTokenRejected,
      login: (options) => {
        logins += 1
        return deviceLogin({
          ...options,
          scope: 'openid offline_access',
          display: ({ userCode }) => void idp.control.devices.approve(userCode),
          sleep: async (untilMs) => idp.control.clock.set(untilMs),
        })
      },
    })
    expect(await (await session.fetch(`${apiUrl}/me`)).json()).toEqual({ user: 'alice' })
    expect(logins).toBe(1)
    idp.control.clock.advance(301_000)
    expect(await (await session.fetch(`${apiUrl}/me`)).json()).toEqual({ user: 'alice' })
    expect(logins).toBe(1)
    expect(idp.control.journal.entries({ grantType: 'refresh_token' }).map((e) => e.status)).toEqual([200])
  })
})

describe('an openEO back-end that never answers', () => {
  it('times out after a garbage collection, with a caller signal (nodejs/node#57736)', async () => {
    const { createServer } = await import('node:net')
    const sockets: Array<import('node:net').Socket> = []
    const server = createServer((socket) => {
      sockets.push(socket)
      socket.on('error', () => {})
      socket.resume()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    const gc = () => {
      const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun
      if (bun) bun.gc(true)
      else (globalThis as { gc?: () => void }).gc?.()
    }
    try {
      const pending = openEoProviderSource(origin, { timeoutMs: 300 })
        .providers({ signal: new AbortController().signal })
        .catch((e: unknown) => e)
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        gc()
      }
      const error = await pending
      expect((error as { code?: string }).code).toBe('ERR_TIMEOUT')
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }, 10_000)
})
