/**
 * Property-based fuzzing: malformed bodies, methods, content types, duplicate parameters, huge
 * values and bad JWTs thrown at every endpoint. The IdP must never answer 5xx, and every 4xx from
 * an OAuth endpoint is a JSON error with `Cache-Control: no-store`.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { basic, idpWith } from './helpers.ts'

const PATHS = [
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
  '/jwks',
  '/authorize',
  '/login',
  '/token',
  '/device_authorization',
  '/device',
  '/userinfo',
  '/introspect',
  '/revoke',
  '/end_session',
  '/register',
  '/_control/devices/ABCD-EFGH/approve',
  '/_control/clock',
  '/_control/faults',
  '/_control/tokens',
]
const HTML_PATHS = new Set(['/device', '/login', '/end_session'])
const GRANTS = [
  'authorization_code',
  'urn:ietf:params:oauth:grant-type:device_code',
  'client_credentials',
  'password',
  'refresh_token',
  'implicit',
  '',
]

const b64 = fc.string({ maxLength: 40 }).map((s) => btoa(unescape(encodeURIComponent(s))).replace(/=+$/, ''))
const jwtLike = fc.oneof(
  fc.tuple(b64, b64, b64).map((parts) => parts.join('.')),
  fc.constant('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'),
  fc.constant('eyJhbGciOiJIUzI1NiJ9.e30.c2ln'),
  fc.string({ maxLength: 20 }),
)
const value = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    ...GRANTS,
    'cli',
    'svc',
    'web',
    'http://127.0.0.1:1/callback',
    'S256',
    'plain',
    'openid',
    'alice',
  ),
  jwtLike,
  fc.constant('x'.repeat(5000)),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
)
/** Which parameters each endpoint reads, so well-formed requests reach deep code paths. */
const ENDPOINT_PARAMS: Record<string, { method: string; names: readonly string[] }> = {
  '/token': {
    method: 'POST',
    names: [
      'grant_type',
      'client_id',
      'client_secret',
      'code',
      'redirect_uri',
      'code_verifier',
      'refresh_token',
      'device_code',
      'scope',
      'username',
      'password',
      'client_assertion',
      'client_assertion_type',
      'audience',
    ],
  },
  '/authorize': {
    method: 'GET',
    names: [
      'response_type',
      'client_id',
      'redirect_uri',
      'scope',
      'state',
      'nonce',
      'code_challenge',
      'code_challenge_method',
      'prompt',
      'login_hint',
      'response_mode',
    ],
  },
  '/device_authorization': { method: 'POST', names: ['client_id', 'client_secret', 'scope'] },
  '/device': { method: 'POST', names: ['user_code', 'username', 'password', 'action'] },
  '/login': { method: 'POST', names: ['request_id', 'username', 'password', 'action'] },
  '/introspect': { method: 'POST', names: ['token', 'token_type_hint', 'client_id', 'client_secret'] },
  '/revoke': { method: 'POST', names: ['token', 'token_type_hint', 'client_id', 'client_secret'] },
  '/userinfo': { method: 'POST', names: ['access_token'] },
  '/end_session': {
    method: 'GET',
    names: ['id_token_hint', 'post_logout_redirect_uri', 'state', 'client_id'],
  },
}

/** Every parameter name any endpoint reads, for the chaos generator. */
const PARAM_NAMES = [...new Set(Object.values(ENDPOINT_PARAMS).flatMap((e) => e.names))]

const pairs = fc.array(
  fc.tuple(fc.oneof(fc.constantFrom(...PARAM_NAMES), fc.string({ maxLength: 10 })), value),
  { maxLength: 8 },
)

const chaos = fc.record({
  path: fc.constantFrom(...PATHS),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'),
  contentType: fc.constantFrom(
    'application/x-www-form-urlencoded',
    'application/json',
    'text/plain',
    'multipart/form-data; boundary=x',
    '',
  ),
  body: fc.oneof(
    pairs.map((ps) => ps.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
    pairs.map((ps) => JSON.stringify(Object.fromEntries(ps))),
    fc.string({ maxLength: 200 }),
    fc.constant('%E0%A4%A'),
    fc.constant('a=1&a=2'),
  ),
  query: pairs.map((ps) => new URLSearchParams(ps).toString()),
  authorization: fc.oneof(
    fc.constant(undefined),
    b64.map((s) => `Basic ${s}`),
    jwtLike.map((t) => `Bearer ${t}`),
    fc.string({ maxLength: 30 }),
  ),
})

/** Builds well-formed requests whose values come from `pool`: real tokens, codes and ids. */
function wellFormed(pool: readonly string[]) {
  const poolValue = fc.oneof(
    { arbitrary: fc.constantFrom(...pool), weight: 4 },
    { arbitrary: value, weight: 1 },
  )
  return fc.constantFrom(...Object.keys(ENDPOINT_PARAMS)).chain((path) => {
    const spec = ENDPOINT_PARAMS[path] ?? { method: 'POST', names: [] }
    return fc
      .record({
        path: fc.constant(path),
        method: fc.constant(spec.method),
        contentType: fc.constant('application/x-www-form-urlencoded'),
        params: fc.uniqueArray(fc.tuple(fc.constantFrom(...spec.names), poolValue), {
          selector: ([k]) => k,
          maxLength: spec.names.length,
        }),
        authorization: fc.oneof(
          fc.constant(undefined),
          fc.constant(basic('svc', 's3cret-value')),
          fc.constant(basic('web', 'web-secret')),
          fc.constant(basic('svc', 'wrong')),
          fc.constantFrom(...pool).map((t) => `Bearer ${t}`),
        ),
      })
      .map((r) => {
        const encoded = new URLSearchParams(r.params).toString()
        return {
          path: r.path,
          method: r.method,
          contentType: r.contentType,
          body: r.method === 'POST' ? encoded : '',
          query: r.method === 'GET' ? encoded : '',
          authorization: r.authorization,
        }
      })
  })
}

describe('fuzzing every endpoint', () => {
  it('never answers 5xx; every OAuth 4xx is a no-store JSON error', async () => {
    const idp = await idpWith()
    idp.control.users.add({ sub: 'bob', password: 'bob' })
    // A pool of live values, so requests get past the first checks into the grants.
    const login = await idp.control.tokens.issue({ clientId: 'cli', sub: 'alice', scope: 'openid profile' })
    const device = (await (
      await idp.fetch(`${idp.issuer}/device_authorization`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'client_id=cli&scope=openid',
      })
    ).json()) as { device_code: string; user_code: string }
    const pool = [
      ...GRANTS,
      'cli',
      'svc',
      'web',
      'alice',
      'bob',
      'approve',
      'deny',
      'S256',
      'plain',
      'openid',
      'openid profile',
      'code',
      'refresh_token',
      'access_token',
      'login',
      'none',
      'http://127.0.0.1:5555/callback',
      'https://app.example/cb',
      'https://app.example/bye',
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
      login.access_token,
      login.refresh_token ?? '',
      login.id_token ?? '',
      device.device_code,
      device.user_code,
    ]
    const request = fc.oneof({ arbitrary: wellFormed(pool), weight: 3 }, { arbitrary: chaos, weight: 1 })
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {}
        if (r.contentType !== '') headers['content-type'] = r.contentType
        if (r.authorization !== undefined) headers.authorization = r.authorization
        const hasBody = r.method !== 'GET' && r.method !== 'HEAD'
        const response = await idp.fetch(`${idp.issuer}${r.path}${r.query ? `?${r.query}` : ''}`, {
          method: r.method,
          headers,
          ...(hasBody ? { body: r.body } : {}),
        })
        const text = await response.text()
        expect(response.status).toBeLessThan(500)
        if (response.status >= 400 && !HTML_PATHS.has(r.path) && r.method !== 'HEAD') {
          const body = JSON.parse(text) as { error?: unknown }
          expect(typeof body.error).toBe('string')
          if (!r.path.startsWith('/_control')) expect(response.headers.get('cache-control')).toBe('no-store')
        }
      }),
      { numRuns: 3000 },
    )
  }, 60_000)

  it('survives huge and binary bodies', async () => {
    const idp = await idpWith()
    for (const body of ['a='.padEnd(1_000_000, 'x'), new Uint8Array([0xff, 0xfe, 0x00, 0x80])]) {
      const response = await idp.fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      })
      expect(response.status).toBeGreaterThanOrEqual(400)
      expect(response.status).toBeLessThan(500)
    }
  })
})

/** Path segments for the control plane: real operations, ids, and malformed percent-encoding. */
const controlSegment = fc.oneof(
  fc.constantFrom(
    'users',
    'clients',
    'devices',
    'clock',
    'keys',
    'rotate',
    'faults',
    'journal',
    'claims',
    'login',
    'tokens',
    'sign',
    'stats',
    'approve',
    'deny',
    'expire',
    'alice',
    'svc',
    'cli',
    'BCDF-GHJK',
    '%E0%A4%A',
    '%',
    '%ZZ',
    '%00',
    '..',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
)
/** JSON bodies with the keys control operations read, holding values of every type. */
const jsonScalar = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('RS256', 'ES256', 'EdDSA', 'HS256', 'none', 'alice', 'cli', 'token', '*'),
  fc.constantFrom(1e308, -1e308, 8.64e15 + 1, Number.MAX_SAFE_INTEGER, -1, 0),
)
const controlBody = fc.oneof(
  fc
    .dictionary(
      fc.constantFrom(
        'sub',
        'username',
        'password',
        'claims',
        'clientId',
        'clientSecret',
        'redirectUris',
        'grantTypes',
        'scopes',
        'tokenEndpointAuthMethod',
        'alg',
        'graceMs',
        'setMs',
        'advanceMs',
        'frozen',
        'endpoint',
        'status',
        'error',
        'times',
        'delayMs',
        'scope',
        'audience',
        'refresh',
        'typ',
        'accessToken',
        'idToken',
        'userinfo',
      ),
      fc.oneof(
        jsonScalar,
        fc.array(jsonScalar, { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 5 }), jsonScalar),
      ),
      { maxKeys: 5 },
    )
    .map((o) => JSON.stringify(o)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 40 }),
)

describe('fuzzing the control plane', () => {
  it('never answers 5xx; every error is a JSON error', async () => {
    const idp = await idpWith()
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS'),
      segments: fc.array(controlSegment, { minLength: 0, maxLength: 3 }),
      body: controlBody,
      contentType: fc.constantFrom('application/json', 'text/plain', ''),
      query: fc.constantFrom('', 'endpoint=token', 'sinceSeq=x', 'sinceSeq=1e999', 'clientId=%E0%A4%A'),
    })
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {}
        if (r.contentType !== '') headers['content-type'] = r.contentType
        const hasBody = r.method !== 'GET' && r.method !== 'OPTIONS'
        const response = await idp.fetch(
          `${idp.issuer}/_control/${r.segments.join('/')}${r.query ? `?${r.query}` : ''}`,
          { method: r.method, headers, ...(hasBody ? { body: r.body } : {}) },
        )
        const text = await response.text()
        // An injected fault answers whatever status the rule says; none may outlive one request.
        idp.control.faults.clear()
        expect([r.method, r.segments.join('/'), r.body, response.status < 500]).toEqual([
          r.method,
          r.segments.join('/'),
          r.body,
          true,
        ])
        if (response.status >= 400)
          expect(typeof (JSON.parse(text) as { error?: unknown }).error).toBe('string')
        // The OAuth endpoints must still work whatever the control plane was told.
        const doc = await idp.fetch(`${idp.issuer}/jwks`)
        expect(doc.status).toBeLessThan(500)
        await doc.arrayBuffer()
      }),
      { numRuns: 600 },
    )
  }, 120_000)
})

describe('fuzzing the HTML pages', () => {
  it('never answers 5xx and never reflects markup unescaped', async () => {
    const idp = await idpWith({ login: 'form' })
    const device = (await (
      await idp.fetch(`${idp.issuer}/device_authorization`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'client_id=cli&scope=openid',
      })
    ).json()) as { user_code: string }
    const started = await idp.fetch(
      `${idp.issuer}/authorize?response_type=code&client_id=cli&redirect_uri=${encodeURIComponent('http://127.0.0.1:1/callback')}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`,
    )
    const requestId = /name="request_id" value="([^"]+)"/.exec(await started.text())?.[1] ?? ''
    expect(requestId).not.toBe('')
    const markup = '<script>alert(1)</script>'
    const pageValue = fc.oneof(
      value,
      fc.constantFrom(markup, `"><img src=x onerror=alert(1)>`, device.user_code, requestId, 'alice'),
      fc.constantFrom('approve', 'deny', 'cancel', 'login'),
    )
    const names = ['user_code', 'username', 'password', 'action', 'request_id', 'state', 'client_id']
    const request = fc.record({
      path: fc.constantFrom('/device', '/login', '/end_session', '/authorize'),
      method: fc.constantFrom('GET', 'POST'),
      params: fc.uniqueArray(fc.tuple(fc.constantFrom(...names), pageValue), {
        selector: ([k]) => k,
        maxLength: names.length,
      }),
    })
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const encoded = new URLSearchParams(r.params).toString()
        const response = await idp.fetch(
          `${idp.issuer}${r.path}${r.method === 'GET' && encoded ? `?${encoded}` : ''}`,
          r.method === 'POST'
            ? {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                body: encoded,
              }
            : {},
        )
        const text = await response.text()
        expect(response.status).toBeLessThan(500)
        if ((response.headers.get('content-type') ?? '').startsWith('text/html')) {
          expect(text).not.toContain(markup)
          expect(text).not.toContain('<img src=x')
          expect(response.headers.get('content-security-policy')).toContain("default-src 'none'")
        }
      }),
      { numRuns: 1500 },
    )
  }, 120_000)
})
