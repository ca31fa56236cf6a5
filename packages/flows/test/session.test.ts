/** Session end to end against @keyfob/mock-idp: the mock clock drives expiry, the journal counts refreshes. */

import { createServer } from 'node:http'
import {
  KeyfobError,
  revokeToken,
  type TokenKey,
  type TokenRecord,
  TokenSet,
  type TokenStore,
  tokenKeyId,
  updateUnderLock,
} from '@keyfob/core'
import { createMockIdp, type MockIdp } from '@keyfob/mock-idp'
import { describe, expect, it } from 'vitest'
import { Session, type SessionOptions } from '../src/index.ts'
import { codeOf } from './helpers.ts'

/** The smallest honest TokenStore: a map, and a per-key lock that queues holders in order. */
function memoryStore(): TokenStore & { readonly records: Map<string, TokenRecord> } {
  const records = new Map<string, TokenRecord>()
  const keys = new Map<string, TokenKey>()
  const tails = new Map<string, Promise<unknown>>()
  const store: TokenStore & { readonly records: Map<string, TokenRecord> } = {
    kind: 'memory',
    records,
    async get(key) {
      return records.get(tokenKeyId(key))
    },
    async set(key, record) {
      keys.set(tokenKeyId(key), key)
      records.set(tokenKeyId(key), record)
    },
    async delete(key) {
      return records.delete(tokenKeyId(key))
    },
    async list() {
      return [...records].map(([id, record]) => ({ key: keys.get(id) as TokenKey, record }))
    },
    lock(key, fn) {
      const id = tokenKeyId(key)
      const run = (tails.get(id) ?? Promise.resolve()).then(fn, fn)
      tails.set(
        id,
        run.catch(() => {}),
      )
      return run
    },
    update: (key, fn, options) => updateUnderLock(store, key, fn, options),
  }
  return store
}

const API = 'https://api.test'

interface Fixture {
  readonly idp: MockIdp
  readonly store: ReturnType<typeof memoryStore>
  readonly options: (extra?: Partial<SessionOptions>) => SessionOptions
  /** An API at {@link API} that accepts what the IdP's userinfo endpoint accepts. */
  readonly api: (request: Request) => Promise<Response>
  /** Authorization headers the API saw, by URL. */
  readonly seen: Array<{ readonly url: string; readonly authorization: string | null; readonly body: string }>
  readonly refreshes: () => number
  /** Logs alice in with the password grant and stores the result, like an earlier `keyfob login`. */
  readonly loggedIn: () => Promise<TokenRecord>
}

async function setup(): Promise<Fixture> {
  const idp = await createMockIdp({
    lifetimes: { accessTokenS: 600 },
    clients: [
      {
        clientId: 'app',
        clientSecret: 'app-secret',
        grantTypes: ['password', 'refresh_token', 'client_credentials'],
      },
    ],
  })
  idp.control.clock.freeze()
  const store = memoryStore()
  const seen: Fixture['seen'] = []
  const api = async (request: Request) => {
    const authorization = request.headers.get('authorization')
    seen.push({ url: request.url, authorization, body: await request.text() })
    if (!request.url.startsWith(API)) return new Response('elsewhere')
    return idp.fetch(`${idp.issuer}/userinfo`, { headers: authorization ? { authorization } : {} })
  }
  const options = (extra: Partial<SessionOptions> = {}): SessionOptions => ({
    issuer: idp.issuer,
    client: { clientId: 'app', clientSecret: 'app-secret' },
    fetch: idp.fetch,
    now: () => idp.control.clock.now(),
    store,
    apiOrigins: [API],
    apiFetch: api,
    ...extra,
  })
  const key: TokenKey = { issuer: idp.issuer, clientId: 'app' }
  const loggedIn = async () => {
    const response = await idp.fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${btoa('app:app-secret')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'alice',
        password: 'alice',
        scope: 'openid offline_access',
      }),
    })
    expect(response.status).toBe(200)
    const record = TokenSet.fromResponse(await response.json(), idp.control.clock.now()).toRecord()
    await store.set(key, record)
    idp.control.journal.clear()
    return record
  }
  return {
    idp,
    store,
    options,
    api,
    seen,
    loggedIn,
    refreshes: () => idp.control.journal.entries({ grantType: 'refresh_token' }).length,
  }
}

describe('Session.accessToken', () => {
  it('answers the stored token while it has more than the margin left, without a request', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    const session = new Session(f.options())
    f.idp.control.clock.advance(500_000) // 100 s left, margin 60 s
    expect(await session.accessToken()).toBe(record.accessToken)
    expect(f.idp.control.journal.entries()).toEqual([])
  })

  it('refreshes inside the margin and saves the rotated refresh token', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    const session = new Session(f.options())
    f.idp.control.clock.advance(550_000) // 50 s left
    const token = await session.accessToken()
    expect(token).not.toBe(record.accessToken)
    expect(f.refreshes()).toBe(1)
    const stored = await f.store.get(session.key)
    expect(stored?.accessToken).toBe(token)
    expect(stored?.refreshToken).toBeTruthy()
    expect(stored?.refreshToken).not.toBe(record.refreshToken) // the mock rotates refresh tokens
    // The rotated one is the one that works next time: the old one is spent.
    f.idp.control.clock.advance(600_000)
    expect(await session.accessToken()).not.toBe(token)
    expect(f.refreshes()).toBe(2)
    expect(f.idp.control.journal.entries({ grantType: 'refresh_token' }).map((e) => e.status)).toEqual([
      200, 200,
    ])
  })

  it('honours minTtlMs above the margin', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    const session = new Session(f.options())
    expect(await session.accessToken({ minTtlMs: 300_000 })).toBe(record.accessToken)
    f.idp.control.clock.advance(400_000) // 200 s left
    expect(await session.accessToken({ minTtlMs: 300_000 })).not.toBe(record.accessToken)
    expect(f.refreshes()).toBe(1)
  })

  it('gives twenty concurrent callers one refresh between them', async () => {
    const f = await setup()
    await f.loggedIn()
    const session = new Session(f.options())
    f.idp.control.clock.advance(601_000)
    const tokens = await Promise.all(Array.from({ length: 20 }, () => session.accessToken()))
    expect(new Set(tokens).size).toBe(1)
    expect(f.refreshes()).toBe(1)
  })

  it('gives two sessions over one store one refresh between them (the store lock)', async () => {
    const f = await setup()
    await f.loggedIn()
    const sessions = [new Session(f.options()), new Session(f.options())]
    f.idp.control.clock.advance(601_000)
    const tokens = await Promise.all(sessions.flatMap((s) => [s.accessToken(), s.accessToken()]))
    expect(new Set(tokens).size).toBe(1)
    expect(f.refreshes()).toBe(1)
  })

  it('falls back to the login hook when the refresh token is refused, and stores the result', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    await revokeToken(
      {
        as: await (await import('@keyfob/core')).discover(f.idp.issuer, { fetch: f.idp.fetch }),
        client: { clientId: 'app', clientSecret: 'app-secret' },
        fetch: f.idp.fetch,
      },
      record.refreshToken as string,
      'refresh_token',
    )
    f.idp.control.clock.advance(601_000)
    let logins = 0
    const session = new Session(
      f.options({
        login: async (options) => {
          logins += 1
          const { passwordLogin } = await import('../src/index.ts')
          return passwordLogin({
            ...options,
            username: 'alice',
            password: 'alice',
            scope: 'openid offline_access',
          })
        },
      }),
    )
    const token = await session.accessToken()
    expect(logins).toBe(1)
    expect(f.idp.control.journal.entries({ grantType: 'refresh_token' }).map((e) => e.error)).toEqual([
      'invalid_grant',
    ])
    expect((await f.store.get(session.key))?.accessToken).toBe(token)
  })

  it('fails with ERR_LOGIN_REQUIRED without a login hook, and keeps the stored record', async () => {
    const f = await setup()
    const session = new Session(f.options())
    expect(await codeOf(session.accessToken())).toBe('ERR_LOGIN_REQUIRED')
    const record = await f.loggedIn()
    f.idp.control.clock.advance(601_000)
    f.idp.control.faults.inject({ endpoint: 'token', status: 400, error: 'invalid_grant', times: 1 })
    expect(await codeOf(session.accessToken())).toBe('ERR_LOGIN_REQUIRED')
    expect(await f.store.get(session.key)).toEqual(record)
  })

  it('passes a provider outage through as its own code, not as a login requirement', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    f.idp.control.clock.advance(601_000)
    f.idp.control.faults.inject({ endpoint: 'token', status: 503, times: 1 })
    let logins = 0
    const session = new Session(
      f.options({
        login: async () => {
          logins += 1
          throw new Error('must not be asked')
        },
      }),
    )
    expect(await codeOf(session.accessToken())).toBe('ERR_TEMPORARILY_UNAVAILABLE')
    expect(logins).toBe(0)
    expect(await f.store.get(session.key)).toEqual(record)
    // The next call, with the provider back, refreshes normally.
    expect(await session.accessToken()).not.toBe(record.accessToken)
  })
})

describe('Session.fetch', () => {
  it('sends the bearer to the configured API origin only', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    const session = new Session(f.options())
    expect((await session.fetch(`${API}/me`)).status).toBe(200)
    await session.fetch('https://elsewhere.test/me')
    await session.fetch('https://api.test.evil.example/me')
    await session.fetch('http://api.test/me') // same host, other scheme: another origin
    expect(f.seen.map((s) => [s.url, s.authorization])).toEqual([
      [`${API}/me`, `Bearer ${record.accessToken}`],
      ['https://elsewhere.test/me', null],
      ['https://api.test.evil.example/me', null],
      ['http://api.test/me', null],
    ])
  })

  it('renews once after a 401 invalid_token and replays the request body', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    // Revoked at the IdP though not expired: only the API's answer can tell.
    const as = await (await import('@keyfob/core')).discover(f.idp.issuer, { fetch: f.idp.fetch })
    await revokeToken(
      { as, client: { clientId: 'app', clientSecret: 'app-secret' }, fetch: f.idp.fetch },
      record.accessToken as string,
      'access_token',
    )
    const session = new Session(f.options())
    const response = await session.fetch(`${API}/jobs`, { method: 'POST', body: '{"a":1}' })
    expect(response.status).toBe(200)
    expect(f.refreshes()).toBe(1)
    expect(f.seen.map((s) => s.body)).toEqual(['{"a":1}', '{"a":1}'])
    expect(f.seen[1]?.authorization).not.toBe(f.seen[0]?.authorization)
  })

  for (const status of [307, 308]) {
    it(`sends a POST body again when the API redirects with ${status} (real HTTP)`, async () => {
      const f = await setup()
      const record = await f.loggedIn()
      const seen: Array<{ path: string; authorization: string | undefined; body: string }> = []
      const server = createServer((request, response) => {
        let body = ''
        request.on('data', (chunk) => {
          body += chunk
        })
        request.on('end', () => {
          seen.push({ path: request.url ?? '', authorization: request.headers.authorization, body })
          if (request.url === '/old') {
            response.writeHead(status, { location: '/new', 'content-length': '0' })
            response.end()
          } else {
            response.writeHead(200, { 'content-type': 'text/plain' })
            response.end(`got ${body}`)
          }
        })
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
        const session = new Session(f.options({ apiOrigins: [origin], apiFetch: (r) => fetch(r) }))
        const response = await session.fetch(`${origin}/old`, {
          method: 'POST',
          body: new URLSearchParams({ process: 'ndvi' }),
        })
        expect(response.status).toBe(200)
        expect(await response.text()).toBe('got process=ndvi')
        expect(seen.map((s) => [s.path, s.body])).toEqual([
          ['/old', 'process=ndvi'],
          ['/new', 'process=ndvi'],
        ])
        expect(seen[0]?.authorization).toBe(`Bearer ${record.accessToken}`)
      } finally {
        await new Promise((resolve) => server.close(resolve))
      }
    })
  }

  it('does not retry a 401 without invalid_token, nor a second time', async () => {
    const f = await setup()
    await f.loggedIn()
    let calls = 0
    const session = new Session(
      f.options({
        apiFetch: async () => {
          calls += 1
          return new Response(null, {
            status: 401,
            headers: {
              'www-authenticate': calls === 1 ? 'Bearer realm="api"' : 'Bearer error="invalid_token"',
            },
          })
        },
      }),
    )
    expect((await session.fetch(`${API}/a`)).status).toBe(401)
    expect(calls).toBe(1)
    expect(f.refreshes()).toBe(0)
    expect((await session.fetch(`${API}/b`)).status).toBe(401)
    expect(calls).toBe(3) // one renewal, one retry, then the answer stands
    expect(f.refreshes()).toBe(1)
  })

  it('uses a custom authorization format and rejection test (openEO style)', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    const headers: Array<string | null> = []
    const session = new Session(
      f.options({
        authorization: (token) => `Bearer oidc/egi/${token}`,
        tokenRejected: async (response) => (await response.json()).code === 'TokenInvalid',
        apiFetch: async (request) => {
          headers.push(request.headers.get('authorization'))
          return headers.length === 1
            ? Response.json({ code: 'TokenInvalid' }, { status: 403 })
            : Response.json({ ok: true })
        },
      }),
    )
    expect(await (await session.fetch(`${API}/me`)).json()).toEqual({ ok: true })
    expect(headers[0]).toBe(`Bearer oidc/egi/${record.accessToken}`)
    expect(headers[1]).toMatch(/^Bearer oidc\/egi\/.+/)
    expect(f.refreshes()).toBe(1)
  })

  it('refuses an API origin that is not http(s)', () => {
    expect(
      () =>
        new Session({
          issuer: 'https://idp',
          client: { clientId: 'x' },
          store: memoryStore(),
          apiOrigins: ['ftp://x'],
        }),
    ).toThrow(KeyfobError)
  })
})

describe('Session.logout', () => {
  it('revokes at the IdP and clears the store', async () => {
    const f = await setup()
    const record = await f.loggedIn()
    const session = new Session(f.options())
    expect(await session.logout()).toEqual({
      revoked: true,
      removed: true,
      tokens: [
        { token: 'refresh_token', outcome: 'revoked' },
        { token: 'access_token', outcome: 'revoked' },
      ],
    })
    expect(
      f.idp.control.journal
        .entries({ endpoint: 'revocation' })
        .map((e) => [e.params.token_type_hint, e.status]),
    ).toEqual([
      ['refresh_token', 200],
      ['access_token', 200],
    ])
    expect(await f.store.get(session.key)).toBeUndefined()
    // The grant is gone at the IdP too.
    const status = await f.idp.fetch(`${f.idp.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${record.accessToken}` },
    })
    expect(status.status).toBe(401)
  })

  it('clears the store even when the IdP cannot be reached, and says why', async () => {
    const f = await setup()
    await f.loggedIn()
    const session = new Session(f.options())
    await session.accessToken() // discovery done while the IdP was up
    f.idp.control.faults.inject({ endpoint: 'revocation', status: 503, times: 5 })
    const result = await session.logout()
    expect(result.revoked).toBe(false)
    expect(result.removed).toBe(true)
    expect(result.tokens.map((t) => [t.token, t.outcome, t.code])).toEqual([
      ['refresh_token', 'unreachable', 'ERR_TEMPORARILY_UNAVAILABLE'],
      ['access_token', 'unreachable', 'ERR_TEMPORARILY_UNAVAILABLE'],
    ])
    expect(result.reason?.code).toBe('ERR_TEMPORARILY_UNAVAILABLE')
    expect(await f.store.get(session.key)).toBeUndefined()
  })

  it("reports a refusal with the provider's answer (a confidential client without its secret)", async () => {
    const f = await setup()
    await f.loggedIn()
    const session = new Session(f.options({ client: { clientId: 'app' } }))
    const result = await session.logout()
    expect(result.revoked).toBe(false)
    expect(result.tokens.map((t) => [t.token, t.outcome, t.code])).toEqual([
      ['refresh_token', 'refused', 'ERR_INVALID_CLIENT'],
      ['access_token', 'refused', 'ERR_INVALID_CLIENT'],
    ])
    expect(await f.store.get(session.key)).toBeUndefined()
  })

  it('says there was nothing to revoke, and revokes nothing, when nothing is stored', async () => {
    const f = await setup()
    const session = new Session(f.options())
    f.idp.control.faults.inject({ endpoint: '*', drop: true, times: Number.POSITIVE_INFINITY })
    expect(await session.logout()).toEqual({ revoked: false, removed: false, tokens: [] })
  })

  it('marks every token unreachable when discovery fails', async () => {
    const f = await setup()
    await f.loggedIn()
    f.idp.control.faults.inject({ endpoint: 'discovery', drop: true, times: Number.POSITIVE_INFINITY })
    const result = await new Session(f.options()).logout()
    expect(result.tokens.map((t) => [t.token, t.outcome])).toEqual([
      ['refresh_token', 'unreachable'],
      ['access_token', 'unreachable'],
    ])
    expect(result.removed).toBe(true)
  })
})
