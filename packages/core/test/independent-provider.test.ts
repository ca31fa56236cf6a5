/**
 * The client side against a provider that behaves like the independent one keyfob was tried
 * against: it lists only `openid` in `scopes_supported`, reads HTTP Basic credentials without
 * percent-decoding them, and answers a failed client authentication with an empty 401 (or an
 * HTML 403). Plus requests that never get an answer, with garbage collections in between.
 */
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clientAuthMethod,
  clientCredentialsFlow,
  deviceFlow,
  discover,
  type Event,
  type HttpContext,
  KeyfobError,
  planScope,
  revokeToken,
  runHttpEffect,
} from '../src/index.ts'

const ISSUER = 'https://independent.test'

interface Seen {
  authorization: string | null
  body: URLSearchParams
}

/** The purpose-built provider: a `fetch` over a handler, recording what it was sent. */
function independentProvider(options: {
  /** Whether Basic credentials are percent-decoded (RFC 6749 §2.3.1); the independent one does not. */
  readonly decodeBasic: boolean
  readonly authMethods?: readonly string[]
  /** How a failed client authentication is answered. */
  readonly refusal?: () => Response
}) {
  const clients = new Map([
    ['kf-svc', 's3cret.-_*'],
    ['odd:id', 'p+s%w'],
  ])
  const seen: Seen[] = []
  const refusal = options.refusal ?? (() => new Response(null, { status: 401 }))
  const authenticate = (request: Request, body: URLSearchParams): boolean => {
    const header = request.headers.get('authorization')
    let id: string | null = body.get('client_id')
    let secret: string | null = body.get('client_secret')
    if (header?.startsWith('Basic ')) {
      const [rawId = '', rawSecret = ''] = atob(header.slice(6)).split(':')
      const decode = (v: string) => (options.decodeBasic ? decodeURIComponent(v.replace(/\+/g, ' ')) : v)
      id = decode(rawId)
      secret = decode(rawSecret)
    }
    return id !== null && clients.get(id) === secret
  }
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init)
    const url = new URL(request.url)
    const body = new URLSearchParams(request.method === 'POST' ? await request.text() : '')
    seen.push({ authorization: request.headers.get('authorization'), body })
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return Response.json({
          issuer: ISSUER,
          token_endpoint: `${ISSUER}/token`,
          revocation_endpoint: `${ISSUER}/revoke`,
          scopes_supported: ['openid'],
          ...(options.authMethods ? { token_endpoint_auth_methods_supported: options.authMethods } : {}),
        })
      case '/token': {
        if (!authenticate(request, body)) return refusal()
        if (!(body.get('scope') ?? '').split(' ').includes('kf_api'))
          return Response.json({ error: 'invalid_scope' }, { status: 400 })
        return Response.json({ access_token: 'at-1', token_type: 'Bearer', expires_in: 300, scope: 'kf_api' })
      }
      case '/revoke':
        return authenticate(request, body) ? new Response(null, { status: 200 }) : refusal()
      default:
        return new Response('not found', { status: 404 })
    }
  }
  return { fetch, seen }
}

async function clientCredentialsAt(
  provider: ReturnType<typeof independentProvider>,
  client: HttpContext['client'],
  scope: string,
): Promise<Event> {
  const as = await discover(ISSUER, { fetch: provider.fetch })
  const initial = clientCredentialsFlow(scope)
  if (initial.phase !== 'idle') throw new Error('a fresh flow starts idle')
  return runHttpEffect(
    { type: 'token-request', request: initial.request },
    { as, client, fetch: provider.fetch },
  )
}

describe('a provider that lists only openid in scopes_supported', () => {
  it('still gets the scope the user asked for on client credentials', async () => {
    const provider = independentProvider({ decodeBasic: false })
    const as = await discover(ISSUER, { fetch: provider.fetch })
    const { scope, notes } = planScope({
      configured: ['kf_api'],
      supported: as.scopes_supported ?? [],
      openid: false,
    })
    expect(scope).toBe('kf_api')
    expect(notes).toEqual([
      "sent kf_api although the provider's scopes_supported does not list it (the list need not be complete)",
    ])
    const event = await clientCredentialsAt(
      provider,
      { clientId: 'kf-svc', clientSecret: 's3cret.-_*' },
      scope,
    )
    expect(event).toMatchObject({ type: 'token-response', response: { access_token: 'at-1' } })
    expect(provider.seen.at(-1)?.body.get('scope')).toBe('kf_api')
  })
})

describe('client authentication', () => {
  it('sends an ordinary client id in Basic as it is, so a server that does not decode reads it', async () => {
    const provider = independentProvider({ decodeBasic: false })
    const event = await clientCredentialsAt(
      provider,
      { clientId: 'kf-svc', clientSecret: 's3cret.-_*' },
      'kf_api',
    )
    expect(event.type).toBe('token-response')
    expect(provider.seen.at(-1)?.authorization).toBe(`Basic ${btoa('kf-svc:s3cret.-_*')}`)
  })

  it('form-encodes what RFC 6749 §2.3.1 requires, which a decoding server reads back', async () => {
    const provider = independentProvider({ decodeBasic: true })
    const event = await clientCredentialsAt(provider, { clientId: 'odd:id', clientSecret: 'p+s%w' }, 'kf_api')
    expect(event.type).toBe('token-response')
    expect(provider.seen.at(-1)?.authorization).toBe(`Basic ${btoa('odd%3Aid:p%2Bs%25w')}`)
    // The same id is also read by a decoding server when it needs no encoding.
    const ordinary = await clientCredentialsAt(
      independentProvider({ decodeBasic: true }),
      { clientId: 'kf-svc', clientSecret: 's3cret.-_*' },
      'kf_api',
    )
    expect(ordinary.type).toBe('token-response')
  })

  it('client_secret_post puts the credentials in the body, none only the id', async () => {
    const provider = independentProvider({ decodeBasic: false })
    const post = await clientCredentialsAt(
      provider,
      { clientId: 'odd:id', clientSecret: 'p+s%w', tokenEndpointAuthMethod: 'client_secret_post' },
      'kf_api',
    )
    expect(post.type).toBe('token-response')
    expect(provider.seen.at(-1)?.authorization).toBeNull()
    expect(provider.seen.at(-1)?.body.get('client_secret')).toBe('p+s%w')
    const none = await clientCredentialsAt(
      provider,
      { clientId: 'kf-svc', clientSecret: 'unused', tokenEndpointAuthMethod: 'none' },
      'kf_api',
    )
    expect(provider.seen.at(-1)?.body.get('client_id')).toBe('kf-svc')
    expect(provider.seen.at(-1)?.body.has('client_secret')).toBe(false)
    expect(none).toMatchObject({ type: 'failed', failure: { code: 'ERR_HTTP_STATUS' } })
  })

  it('defaults from token_endpoint_auth_methods_supported', async () => {
    const as = (methods?: string[]) => ({
      issuer: ISSUER,
      ...(methods ? { token_endpoint_auth_methods_supported: methods } : {}),
    })
    const secret = { clientId: 'c', clientSecret: 's' }
    expect(clientAuthMethod(as(), secret)).toBe('client_secret_basic')
    expect(clientAuthMethod(as(['client_secret_post']), secret)).toBe('client_secret_post')
    expect(clientAuthMethod(as(['client_secret_post', 'client_secret_basic']), secret)).toBe(
      'client_secret_basic',
    )
    expect(clientAuthMethod(as(['client_secret_post']), { clientId: 'public' })).toBe('none')
    const provider = independentProvider({ decodeBasic: false, authMethods: ['client_secret_post'] })
    const event = await clientCredentialsAt(
      provider,
      { clientId: 'kf-svc', clientSecret: 's3cret.-_*' },
      'kf_api',
    )
    expect(event.type).toBe('token-response')
    expect(provider.seen.at(-1)?.body.get('client_secret')).toBe('s3cret.-_*')
  })

  it('names a bad configured method and a secret-based method without a secret', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn()
      } catch (error) {
        return error instanceof KeyfobError ? [error.code, error.message] : error
      }
      return undefined
    }
    expect(
      codeOf(() =>
        clientAuthMethod({ issuer: ISSUER }, { clientId: 'c', tokenEndpointAuthMethod: 'mtls' as never }),
      ),
    ).toEqual([
      'ERR_INVALID_CONFIG',
      'client c: tokenEndpointAuthMethod "mtls" is not one of client_secret_basic, client_secret_post, none',
    ])
    expect(
      codeOf(() =>
        clientAuthMethod(
          { issuer: ISSUER },
          { clientId: 'c', tokenEndpointAuthMethod: 'client_secret_post' },
        ),
      ),
    ).toEqual([
      'ERR_INVALID_CONFIG',
      'client c authenticates with client_secret_post but has no client secret; add the secret or use "none"',
    ])
  })
})

describe('error answers that are not OAuth errors', () => {
  it('an empty 401 at the token endpoint is ERR_HTTP_STATUS with the status', async () => {
    const provider = independentProvider({ decodeBasic: false })
    const event = await clientCredentialsAt(provider, { clientId: 'kf-svc', clientSecret: 'wrong' }, 'kf_api')
    expect(event).toMatchObject({
      type: 'failed',
      failure: { code: 'ERR_HTTP_STATUS', evidence: { status: 401 } },
    })
    const failure = (event as Extract<Event, { type: 'failed' }>).failure
    expect(failure.message).toContain('answered 401 with an empty body, not an OAuth error response')
    expect(failure.message).not.toContain('content-type')
    expect(failure.evidence).not.toHaveProperty('body')
  })

  it('an HTML 403 keeps a short excerpt with every secret and token-shaped string redacted', async () => {
    const echo = (request: Request) =>
      new Response(
        `<html><head><style>p{}</style></head><body><h1>403 Forbidden</h1><p>${request.headers.get('authorization')} wrong-secret eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbg</p>${'x '.repeat(300)}</body></html>`,
        { status: 403, headers: { 'content-type': 'text/html' } },
      )
    let last: Request | undefined
    const provider = independentProvider({ decodeBasic: false, refusal: () => echo(last as Request) })
    const fetch = (input: string | URL | Request, init?: RequestInit) => {
      last = new Request(input, init)
      return provider.fetch(input, init)
    }
    const as = await discover(ISSUER, { fetch })
    const event = await runHttpEffect(
      { type: 'token-request', request: { grant: 'client_credentials', scope: 'kf_api' } },
      { as, client: { clientId: 'kf-svc', clientSecret: 'wrong-secret' }, fetch },
    )
    const failure = (event as Extract<Event, { type: 'failed' }>).failure
    expect(failure.code).toBe('ERR_HTTP_STATUS')
    const body = failure.evidence?.body as string
    expect(body.startsWith('403 Forbidden Basic <redacted> <redacted> <redacted> x x')).toBe(true)
    expect(body.length).toBeLessThanOrEqual(201)
    expect(failure.message).not.toContain('wrong-secret')
    expect(JSON.stringify(failure)).not.toContain('wrong-secret')
  })

  it('revocation refused with an empty 403 throws ERR_HTTP_STATUS', async () => {
    const provider = independentProvider({
      decodeBasic: false,
      refusal: () => new Response('', { status: 403 }),
    })
    const as = await discover(ISSUER, { fetch: provider.fetch })
    const error = await revokeToken(
      { as, client: { clientId: 'kf-svc', clientSecret: 'wrong' }, fetch: provider.fetch },
      'rt-secret',
      'refresh_token',
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyfobError)
    expect((error as KeyfobError).code).toBe('ERR_HTTP_STATUS')
    expect((error as KeyfobError).cause).toMatchObject({ status: 403 })
    await revokeToken(
      { as, client: { clientId: 'kf-svc', clientSecret: 's3cret.-_*' }, fetch: provider.fetch },
      'rt',
      'refresh_token',
    )
  })

  it('a refused connection names its cause', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as { port: number }
    await new Promise((resolve) => closed.close(resolve))
    const error = await discover(`http://127.0.0.1:${port}`, { retries: 0 }).catch((e: unknown) => e)
    expect((error as KeyfobError).code).toBe('ERR_NETWORK')
    expect((error as KeyfobError).message).toMatch(/ECONNREFUSED|connection ?refused/i)
  })

  it('a discovery 404 says 404', async () => {
    const provider = independentProvider({ decodeBasic: false })
    const error = await discover(`${ISSUER}/wrong`, { fetch: provider.fetch }).catch((e: unknown) => e)
    expect((error as KeyfobError).code).toBe('ERR_DISCOVERY')
    expect((error as KeyfobError).message).toContain('answered 404')
  })
})

/** Collects garbage where the runtime lets a test do so: Node and Deno with --expose-gc, Bun always. */
function collectGarbage(): boolean {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun
  if (bun) {
    bun.gc(true)
    return true
  }
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return false
  gc()
  return true
}

describe('requests that never get an answer', () => {
  let server: Server
  let origin = ''
  const sockets = new Set<import('node:net').Socket>()
  beforeAll(async () => {
    // Accepts connections and reads requests, never answers.
    server = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      socket.resume()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address() as { port: number }
    origin = `http://127.0.0.1:${address.port}`
  })
  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })

  const as = () => ({
    issuer: origin,
    token_endpoint: `${origin}/token`,
    device_authorization_endpoint: `${origin}/device`,
  })

  it('time out after a garbage collection, with a caller signal (nodejs/node#57736)', async () => {
    if (process.env.CI === 'true') expect(collectGarbage()).toBe(true)
    const caller = new AbortController()
    const pending = runHttpEffect(
      { type: 'token-request', request: { grant: 'client_credentials', scope: 'kf_api' } },
      { as: as(), client: { clientId: 'kf-svc', clientSecret: 's' }, timeoutMs: 300, signal: caller.signal },
    )
    // Collect garbage while the request waits, as a long-running CLI would.
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      collectGarbage()
    }
    const event = await pending
    expect(event).toMatchObject({ type: 'failed', failure: { code: 'ERR_TIMEOUT' } })
    expect(caller.signal.aborted).toBe(false)
  }, 10_000)

  it('a hanging discovery times out too', async () => {
    const error = await discover(origin, {
      timeoutMs: 200,
      retries: 0,
      signal: new AbortController().signal,
    }).catch((e: unknown) => e)
    collectGarbage()
    expect((error as KeyfobError).code).toBe('ERR_TIMEOUT')
  }, 10_000)

  it("a device poll never outlasts the flow's deadline, whatever the request timeout", async () => {
    const flow = deviceFlow({ scope: 'openid', maxPollMs: 400 })
    const now = Date.now()
    const start = { type: 'start', nowMs: now } as const
    const { deviceTransition } = await import('../src/index.ts')
    const authorizing = deviceTransition(flow, start)
    const [request] = authorizing.effects
    expect(request).toMatchObject({ type: 'device-authorization-request', deadlineMs: now + 400 })
    // The default per-request timeout is 30 s; the deadline (400 ms) must end the request first.
    const event = await runHttpEffect(request as never, {
      as: as(),
      client: { clientId: 'cli' },
      signal: new AbortController().signal,
    })
    collectGarbage()
    expect(event).toMatchObject({ type: 'failed', failure: { code: 'ERR_TIMEOUT' } })
    const late = await runHttpEffect(
      {
        type: 'token-request',
        request: { grant: 'device_code', deviceCode: 'dc' },
        deadlineMs: Date.now() - 1,
      },
      { as: as(), client: { clientId: 'cli' } },
    )
    expect(late).toMatchObject({
      type: 'failed',
      failure: { code: 'ERR_TIMEOUT', message: expect.stringContaining("the flow's deadline has passed") },
    })
  }, 10_000)
})
