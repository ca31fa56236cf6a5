/** guard(): explicit combinations, public paths on the normalized path, OPTIONS, stacking. */
import type { MockIdp } from '@keyfob/mock-idp'
import { Hono } from 'hono'
import { cors } from 'hono/cors'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  apiKeyAuth,
  type GuardEnv,
  GuardError,
  type GuardErrorCode,
  guard,
  jwtAuth,
  requireScopes,
} from '../src/index.ts'
import { compilePublicPaths } from '../src/paths.ts'
import { AUDIENCE, accessToken, get, protectedApp, recorder, testIdp, withToken } from './helpers.ts'

const KEY = 'ci-key-0123456789abcdef'
let idp: MockIdp
let token: string

beforeAll(async () => {
  idp = await testIdp()
  token = await accessToken(idp)
})

const jwt = () =>
  jwtAuth({ jwksUrl: `${idp.issuer}/jwks`, issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch })
const key = () => apiKeyAuth({ keys: { ci: KEY } })

function codeOf(fn: () => unknown): GuardErrorCode | undefined {
  try {
    fn()
  } catch (error) {
    if (error instanceof GuardError) return error.code
    throw error
  }
  return undefined
}

describe('guard({ schemes })', () => {
  it('two schemes without saying how they combine is a startup error', () => {
    expect(codeOf(() => guard({ schemes: [jwt(), key()] }))).toBe('ERR_AMBIGUOUS_SCHEMES')
    expect(codeOf(() => guard({ schemes: [jwt(), key()], combine: 'first-present' }))).toBeUndefined()
    expect(codeOf(() => guard({ schemes: [jwt()] }))).toBeUndefined()
  })

  it('refuses an empty list, non-schemes, duplicates, an unknown combine and per-scheme entry options', () => {
    expect(codeOf(() => guard({ schemes: [] }))).toBe('ERR_MISSING_OPTION')
    expect(codeOf(() => guard({} as never))).toBe('ERR_MISSING_OPTION')
    expect(codeOf(() => guard({ schemes: [requireScopes('read') as never] }))).toBe('ERR_INVALID_OPTION')
    const j = jwt()
    expect(codeOf(() => guard({ schemes: [j, j], combine: 'all' }))).toBe('ERR_INVALID_OPTION')
    expect(codeOf(() => guard({ schemes: [jwt(), key()], combine: 'any' as never }))).toBe(
      'ERR_INVALID_OPTION',
    )
    expect(codeOf(() => guard({ schemes: [apiKeyAuth({ keys: [KEY], publicPaths: ['/openapi'] })] }))).toBe(
      'ERR_CONFLICTING_OPTIONS',
    )
  })

  describe("combine: 'first-present'", () => {
    const app = () => protectedApp(guard({ schemes: [jwt(), key()], combine: 'first-present' }))

    it('authenticates with whichever credential is present', async () => {
      const byToken = await (await withToken(app(), token)).json()
      expect(byToken.auth.scheme).toBe('jwt')
      const byKey = await (await get(app(), '/', { 'x-api-key': KEY })).json()
      expect(byKey.auth).toEqual({ scheme: 'apiKey', keyId: 'ci', scopes: [], claims: {} })
    })

    it('the first scheme in order decides when both are present', async () => {
      const both = await get(app(), '/', { authorization: `Bearer ${token}`, 'x-api-key': KEY })
      expect((await both.json()).auth.scheme).toBe('jwt')
    })

    it('a failing credential is not retried with the next scheme', async () => {
      const response = await get(app(), '/', { authorization: 'Bearer not.a.jwt', 'x-api-key': KEY })
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
    })

    it('no credential: 401 offering every scheme, without an error attribute', async () => {
      const response = await get(app(), '/')
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer, ApiKey header="X-API-KEY"')
      expect((await response.json()).error).toBe('missing_credentials')
    })
  })

  describe("combine: 'all'", () => {
    const app = () => protectedApp(guard({ schemes: [jwt(), key()], combine: 'all' }))

    it('needs every scheme, and reports every result in auth.factors', async () => {
      const response = await get(app(), '/', { authorization: `Bearer ${token}`, 'x-api-key': KEY })
      expect(response.status).toBe(200)
      const { auth } = await response.json()
      expect(auth.scheme).toBe('jwt')
      expect(auth.factors.map((f: { scheme: string }) => f.scheme)).toEqual(['jwt', 'apiKey'])
      expect((await withToken(app(), token)).status).toBe(401)
      expect((await get(app(), '/', { 'x-api-key': KEY })).status).toBe(401)
      expect(
        (await get(app(), '/', { authorization: `Bearer ${token}`, 'x-api-key': 'wrong-key-0123456789' }))
          .status,
      ).toBe(401)
    })
  })

  it('stacking two scheme middlewares on one route fails loudly at its first request', async () => {
    const app = new Hono<GuardEnv>()
    app.onError((error) => new Response(error instanceof GuardError ? error.code : 'other', { status: 500 }))
    app.use('*', key())
    app.use('*', jwt())
    app.get('/', (c) => c.text('reached'))
    const response = await get(app, '/', { authorization: `Bearer ${token}`, 'x-api-key': KEY })
    expect(response.status).toBe(500)
    expect(await response.text()).toBe('ERR_AMBIGUOUS_SCHEMES')
  })

  it('the same middleware mounted on overlapping paths authenticates once', async () => {
    const log = recorder()
    const mw = apiKeyAuth({ keys: [KEY], onEvent: log.onEvent })
    const app = new Hono<GuardEnv>()
    app.use('*', mw)
    app.use('/collections/*', mw)
    app.get('/collections/x', (c) => c.text('ok'))
    expect((await get(app, '/collections/x', { 'x-api-key': KEY })).status).toBe(200)
    expect(log.events.length).toBe(1)
  })
})

describe('public paths', () => {
  const make = (publicPaths: string[]) => {
    const app = new Hono<GuardEnv>()
    app.use('*', apiKeyAuth({ keys: [KEY], publicPaths }))
    app.all('*', (c) => c.text(`handler for ${c.req.path}`))
    return app
  }

  it('an exact path is public; look-alikes are not (no regex prefix surprises)', async () => {
    const app = make(['/openapi'])
    expect((await get(app, '/openapi')).status).toBe(200)
    expect((await get(app, '/openapi?f=json')).status).toBe(200)
    for (const path of [
      '/openapi-evil',
      '/openapi.json',
      '/openapi/',
      '/openapi/x',
      '/OPENAPI',
      '//openapi',
      '/x/openapi',
      '/openapi%2F..%2Fcollections',
      '/openapi/../collections',
    ]) {
      expect({ path, status: (await get(app, path)).status }).toEqual({ path, status: 401 })
    }
  })

  it('matches the path Hono routes on: percent-decoded like the router, dot segments already resolved', async () => {
    const app = make(['/openapi'])
    const decoded = await get(app, '/open%61pi')
    expect(decoded.status).toBe(200)
    expect(await decoded.text()).toBe('handler for /openapi')
    // "/openapi/../collections" is "/collections" by the time anyone sees it: protected.
    const dotted = await get(app, '/openapi/../collections')
    expect(dotted.status).toBe(401)
    // %2F stays encoded for router and guard alike: one segment, not public, not /collections.
    const encoded = await get(app, '/openapi%2Fx', { 'x-api-key': KEY })
    expect(await encoded.text()).toBe('handler for /openapi%2Fx')
  })

  it('matches as a segment-by-segment reading of the rules would, on random paths', () => {
    const rules = ['/openapi', 'GET /conformance', '/collections/:id', '/docs/*', '/', 'POST /a/:b/c/*']
    const isPublic = compilePublicPaths(rules, 'test') as (method: string, path: string) => boolean
    // The model: split both into segments and compare them one by one.
    const model = (method: string, path: string) =>
      rules.some((entry) => {
        const [m, p] = entry.includes(' ') ? (entry.split(' ') as [string, string]) : [undefined, entry]
        if (m !== undefined && m !== method && !(m === 'GET' && method === 'HEAD')) return false
        const want = p.split('/').slice(1)
        const rest = want[want.length - 1] === '*'
        if (rest) want.pop()
        const have = path.split('/').slice(1)
        if (rest ? have.length <= want.length : have.length !== want.length) return false
        return want.every((w, i) => (w.startsWith(':') ? (have[i] as string).length > 0 : w === have[i]))
      })
    const pieces = ['', 'openapi', 'conformance', 'collections', 'docs', 'a', 'b', 'c', 'x', 'openapi2']
    let seed = 7
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed % n
    }
    for (let i = 0; i < 20_000; i++) {
      const segments = Array.from({ length: random(5) + 1 }, () => pieces[random(pieces.length)] as string)
      const path = `/${segments.join('/')}`
      const method = ['GET', 'HEAD', 'POST', 'DELETE'][random(4)] as string
      expect({ method, path, public: isPublic(method, path) }).toEqual({
        method,
        path,
        public: model(method, path),
      })
    }
  })

  it('a method-qualified entry covers only that method (GET also covers HEAD)', async () => {
    const app = make(['GET /openapi'])
    expect((await get(app, '/openapi')).status).toBe(200)
    expect((await get(app, '/openapi', {}, 'HEAD')).status).toBe(200)
    expect((await get(app, '/openapi', {}, 'POST')).status).toBe(401)
    expect((await get(app, '/openapi', {}, 'OPTIONS')).status).toBe(401)
  })

  it('":name" matches one non-empty segment; a final "*" matches below, not the parent', async () => {
    const app = make(['/collections/:id', '/docs/*'])
    expect((await get(app, '/collections/obs')).status).toBe(200)
    expect((await get(app, '/collections/obs/items')).status).toBe(401)
    expect((await get(app, '/collections/')).status).toBe(401)
    expect((await get(app, '/collections')).status).toBe(401)
    expect((await get(app, '/docs/')).status).toBe(200)
    expect((await get(app, '/docs/a/b.html')).status).toBe(200)
    expect((await get(app, '/docs')).status).toBe(401)
    expect((await get(app, '/docs-private/x')).status).toBe(401)
  })

  it('refuses entries that look like regular expressions or put wildcards mid-path', () => {
    for (const entry of [
      'openapi',
      '^/openapi',
      '/docs/*/x',
      '/do*cs',
      'get /openapi',
      'GET  POST /x',
      '/a/:',
    ]) {
      expect(codeOf(() => make([entry]))).toBe('ERR_INVALID_OPTION')
    }
  })
})

describe('middleware names', () => {
  it('each middleware is named after its factory, as Hono names its own', () => {
    expect(apiKeyAuth({ keys: [KEY] }).name).toBe('apiKeyAuth')
    expect(guard({ schemes: [apiKeyAuth({ keys: [KEY] })] }).name).toBe('guard')
    expect(requireScopes('read').name).toBe('requireScopes')
  })
})

describe('OPTIONS and CORS preflight', () => {
  const preflight = { origin: 'https://app.example', 'access-control-request-method': 'GET' }

  it('OPTIONS is authenticated by default, preflight headers or not', async () => {
    const app = protectedApp(apiKeyAuth({ keys: [KEY] }))
    expect((await get(app, '/collections', {}, 'OPTIONS')).status).toBe(401)
    expect((await get(app, '/collections', preflight, 'OPTIONS')).status).toBe(401)
    expect((await get(app, '/collections', { 'x-api-key': KEY }, 'OPTIONS')).status).toBe(200)
  })

  it('corsPreflight: cors(...) answers real preflights with that middleware alone', async () => {
    const log = recorder()
    const app = new Hono<GuardEnv>()
    app.use(
      '*',
      apiKeyAuth({
        keys: [KEY],
        corsPreflight: cors({ origin: 'https://app.example' }),
        onEvent: log.onEvent,
      }),
    )
    app.get('/collections', (c) => c.text('data'))
    const ok = await get(app, '/collections', preflight, 'OPTIONS')
    expect(ok.status).toBe(204)
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect((await get(app, '/collections', { origin: 'https://app.example' }, 'OPTIONS')).status).toBe(401)
    expect((await get(app, '/collections', {}, 'OPTIONS')).status).toBe(401)
    expect((await get(app, '/collections', { origin: 'https://app.example' })).status).toBe(401)
    expect(log.events.map((e) => e.reason)).toEqual(['preflight', 'missing', 'missing', 'missing'])
  })

  it('a preflight never reaches a route: app.all, app.on(OPTIONS) and uncovered paths stay unrun', async () => {
    let ran = 0
    const app = new Hono<GuardEnv>()
    app.use('*', apiKeyAuth({ keys: [KEY], corsPreflight: cors({ origin: 'https://app.example' }) }))
    app.all('/all', (c) => {
      ran++
      return c.text('secret')
    })
    app.on(['OPTIONS', 'GET'], '/on', (c) => {
      ran++
      return c.text('secret')
    })
    for (const path of ['/all', '/on', '/nowhere']) {
      const res = await get(app, path, preflight, 'OPTIONS')
      expect(res.status).toBe(204)
      expect(await res.text()).toBe('')
    }
    expect(ran).toBe(0)
  })

  it('a corsPreflight middleware that calls next still answers 204 without running the route', async () => {
    let ran = 0
    const app = new Hono<GuardEnv>()
    app.use(
      '*',
      apiKeyAuth({
        keys: [KEY],
        corsPreflight: async (c, next) => {
          c.header('access-control-allow-origin', 'https://app.example')
          await next()
        },
      }),
    )
    app.all('*', (c) => {
      ran++
      return c.text('secret')
    })
    const res = await get(app, '/x', preflight, 'OPTIONS')
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(ran).toBe(0)
  })

  it('corsPreflight: true is refused at startup, naming the form that works', () => {
    let error: unknown
    try {
      apiKeyAuth({ keys: [KEY], corsPreflight: true as unknown as false })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(GuardError)
    expect((error as GuardError).code).toBe('ERR_INVALID_OPTION')
    expect((error as GuardError).message).toContain('corsPreflight: cors(')
  })

  it('with cors() before the guard, preflights never reach it and real requests still need credentials', async () => {
    const app = new Hono<GuardEnv>()
    app.use('*', cors({ origin: 'https://app.example', exposeHeaders: ['WWW-Authenticate'] }))
    app.use('*', jwt())
    app.get('/collections', (c) => c.text('data'))
    expect((await get(app, '/collections', preflight, 'OPTIONS')).status).toBe(204)
    const refused = await get(app, '/collections', { origin: 'https://app.example' })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate')
  })
})
