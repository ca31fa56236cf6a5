/**
 * Property-based fuzzing: malformed bodies, methods, content types, duplicate parameters, huge
 * values and bad JWTs thrown at every endpoint. The IdP must never answer 5xx, and every 4xx from
 * an OAuth endpoint is a JSON error with `Cache-Control: no-store`.
 */
import fc from 'fast-check'
import { exportJWK } from 'jose'
import { describe, expect, it } from 'vitest'
import { ath, dpopKey, proof } from './dpop-helpers.ts'
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
  '/par',
  '/_control/dpop',
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
      'resource',
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
      'resource',
      'dpop_jkt',
      'request_uri',
    ],
  },
  '/par': {
    method: 'POST',
    names: [
      'response_type',
      'client_id',
      'client_secret',
      'redirect_uri',
      'scope',
      'state',
      'code_challenge',
      'code_challenge_method',
      'resource',
      'dpop_jkt',
      'request_uri',
      'request',
    ],
  },
  '/device_authorization': { method: 'POST', names: ['client_id', 'client_secret', 'scope', 'resource'] },
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
    jwtLike.map((t) => `DPoP ${t}`),
    fc.string({ maxLength: 30 }),
  ),
  dpop: fc.oneof(fc.constant(undefined), jwtLike, fc.string({ maxLength: 30 })),
})

/**
 * Builds well-formed requests whose values come from `pool`: real tokens, codes and ids; DPoP
 * headers from `proofs` (valid ones, replays and every kind of broken one).
 */
function wellFormed(pool: readonly string[], proofs: readonly string[] = ['']) {
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
          fc.constantFrom(...pool).map((t) => `DPoP ${t}`),
        ),
        dpop: fc.oneof(fc.constant(undefined), fc.constantFrom(...proofs)),
        // `resource` may repeat (RFC 8707), so a request may carry more of them.
        resources: fc.array(fc.constantFrom(...RESOURCES), { maxLength: 3 }),
      })
      .map((r) => {
        const search = new URLSearchParams(r.params)
        for (const resource of r.resources) search.append('resource', resource)
        const encoded = search.toString()
        return {
          path: r.path,
          method: r.method,
          contentType: r.contentType,
          body: r.method === 'POST' ? encoded : '',
          query: r.method === 'GET' ? encoded : '',
          authorization: r.authorization,
          dpop: r.dpop === '' ? undefined : r.dpop,
        }
      })
  })
}

const RESOURCES = [
  'https://api.example/',
  'https://files.example/v1?x=1',
  'https://api.example/#frag',
  '/relative',
  'urn:example:thing',
  '',
]

describe('fuzzing every endpoint', () => {
  it('never answers 5xx; every OAuth 4xx is a no-store JSON error', async () => {
    const idp = await idpWith()
    idp.control.users.add({ sub: 'bob', password: 'bob' })
    const key = await dpopKey()
    const minted = await idp.control.tokens.issue({
      clientId: 'cli',
      sub: 'alice',
      scope: 'openid',
      jkt: key.jkt,
    })
    const pushedRequest = (await (
      await idp.fetch(`${idp.issuer}/par`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `client_id=cli&response_type=code&redirect_uri=${encodeURIComponent('http://127.0.0.1:5555/callback')}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`,
      })
    ).json()) as { request_uri: string }
    const now = () => Math.floor(idp.control.clock.now() / 1000)
    // Valid proofs are used again and again by the generator, so replays are tried too.
    const proofs = [
      ...(await Promise.all(Array.from({ length: 6 }, () => proof(idp, key)))),
      await proof(idp, key, { htu: `${idp.issuer}/par` }),
      await proof(idp, key, { htm: 'GET', htu: `${idp.issuer}/userinfo` }),
      await proof(idp, key, { nonce: idp.control.dpop.info().nonce }),
      await proof(idp, key, { iat: now() - 10_000 }),
      await proof(idp, key, { header: { typ: 'JWT' } }),
      await proof(idp, key, { header: { jwk: await exportJWK(key.privateKey) } }),
      await proof(idp, key, { header: { alg: 'ES384' } }).catch(() => 'a.b.c'),
      await proof(idp, key, { jti: undefined, iat: undefined }),
      await proof(idp, key, { signWith: (await dpopKey()).privateKey }),
      `${await proof(idp, key)}, ${await proof(idp, key)}`,
    ]
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
      minted.access_token,
      minted.refresh_token ?? '',
      pushedRequest.request_uri,
      'urn:ietf:params:oauth:request_uri:unknown',
      key.jkt,
      ...RESOURCES,
      login.id_token ?? '',
      device.device_code,
      device.user_code,
    ]
    const request = fc.tuple(
      fc.oneof({ arbitrary: wellFormed(pool, proofs), weight: 3 }, { arbitrary: chaos, weight: 1 }),
      fc.constantFrom(undefined, true, false),
    )
    await fc.assert(
      fc.asyncProperty(request, async ([r, requireNonce]) => {
        idp.control.dpop.requireNonce(requireNonce)
        const headers: Record<string, string> = {}
        if (r.contentType !== '') headers['content-type'] = r.contentType
        if (r.authorization !== undefined) headers.authorization = r.authorization
        if (r.dpop !== undefined) headers.dpop = r.dpop
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

  it('DPoP proofs, PAR and resources past client authentication: no 5xx, and every outcome reached', async () => {
    const idp = await idpWith()
    const key = await dpopKey()
    const minted = await idp.control.tokens.issue({
      clientId: 'cli',
      sub: 'alice',
      scope: 'openid',
      jkt: key.jkt,
    })
    const now = () => Math.floor(idp.control.clock.now() / 1000)
    const userinfo = `${idp.issuer}/userinfo`
    const proofs = [
      ...(await Promise.all(Array.from({ length: 20 }, () => proof(idp, key)))),
      ...(await Promise.all(Array.from({ length: 5 }, () => proof(idp, key, { htu: `${idp.issuer}/par` })))),
      await proof(idp, key, { htm: 'GET', htu: userinfo }),
      await proof(idp, key, { htm: 'GET', htu: userinfo, ath: 'x' }),
      ...(await Promise.all(
        Array.from({ length: 3 }, async () =>
          proof(idp, key, { htm: 'GET', htu: userinfo, ath: await ath(minted.access_token) }),
        ),
      )),
      await proof(idp, key, { nonce: idp.control.dpop.info().nonce }),
      await proof(idp, key, { iat: now() - 10_000 }),
      await proof(idp, key, { iat: now() + 10_000 }),
      await proof(idp, key, { header: { typ: 'JWT' } }),
      await proof(idp, key, { header: { jwk: await exportJWK(key.privateKey) } }),
      await proof(idp, key, { header: { jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } } }),
      await proof(idp, key, { header: { jwk: { kty: 'RSA', n: 'AA', e: 'AQAB' }, alg: 'RS256' } }).catch(
        () => 'a.b',
      ),
      await proof(idp, key, { jti: undefined, iat: undefined, htm: undefined }),
      await proof(idp, key, { htu: 'not a url' }),
      await proof(idp, key, { signWith: (await dpopKey()).privateKey }),
      'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.',
      'not-a-jws',
    ]
    const request = fc.record({
      target: fc.constantFrom('token', 'par', 'userinfo'),
      dpop: fc.oneof(fc.constant(undefined), fc.constantFrom(...proofs)),
      resources: fc.array(fc.constantFrom(...RESOURCES), { maxLength: 3 }),
      dpopJkt: fc.constantFrom(undefined, key.jkt, 'x'.repeat(43), 'short'),
      requireNonce: fc.constantFrom(undefined, true, false),
      scheme: fc.constantFrom('DPoP', 'Bearer'),
    })
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        idp.control.dpop.requireNonce(r.requireNonce)
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
        if (r.dpop !== undefined) headers.dpop = r.dpop
        const form = new URLSearchParams()
        for (const resource of r.resources) form.append('resource', resource)
        let response: Response
        if (r.target === 'userinfo') {
          headers.authorization = `${r.scheme} ${minted.access_token}`
          response = await idp.fetch(userinfo, { headers })
        } else if (r.target === 'token') {
          headers.authorization = basic('svc', 's3cret-value')
          form.set('grant_type', 'client_credentials')
          response = await idp.fetch(`${idp.issuer}/token`, {
            method: 'POST',
            headers,
            body: form.toString(),
          })
        } else {
          for (const [k, v] of Object.entries({
            client_id: 'cli',
            response_type: 'code',
            redirect_uri: 'http://127.0.0.1:5555/callback',
            code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
            code_challenge_method: 'S256',
            ...(r.dpopJkt !== undefined ? { dpop_jkt: r.dpopJkt } : {}),
          }))
            form.set(k, v)
          response = await idp.fetch(`${idp.issuer}/par`, { method: 'POST', headers, body: form.toString() })
        }
        const body = (await response.json()) as { error?: unknown }
        expect(response.status).toBeLessThan(500)
        if (response.status >= 400) expect(typeof body.error).toBe('string')
      }),
      { numRuns: 1500 },
    )
    const outcomes = new Set(idp.control.journal.entries().map((e) => `${e.endpoint} ${e.error ?? e.status}`))
    for (const outcome of [
      'token 200',
      'token invalid_dpop_proof',
      'token use_dpop_nonce',
      'token invalid_target',
      'par 201',
      'par invalid_dpop_proof',
      'userinfo 200',
      'userinfo invalid_dpop_proof',
      'userinfo invalid_token',
    ]) {
      expect(outcomes).toContain(outcome)
    }
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
    'dpop',
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
        'requireNonce',
        'rotate',
        'jkt',
        'resources',
        'dpopBoundAccessTokens',
        'requireDpopNonce',
        'requirePushedAuthorizationRequests',
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
