// The cost of @keyfob/guard over the library it drives: requests per second through `jwtAuth` on an
// in-process Hono app (`app.request`) vs a bare `jose.jwtVerify` loop with the same key and the same
// remote JWKS (cached after the first fetch), interleaved in rounds in the same process. jwtAuth runs
// twice: as configured by default (a client reusing its token hits the verified-token cache) and with
// `cache: false` (a signature check per request). For context: the same app with `jose.jwtVerify`
// inline in a plain middleware (what Hono itself costs around a verification), with Hono's own
// `jwk()`, and without auth. Each round runs the peers in a rotated order, so no peer always pays for
// the garbage of the one before. Target: default jwtAuth at least 0.8x the bare jose loop.
// Writes bench/results/guard.json.
import { jwtAuth } from '@keyfob/guard'
import { createMockIdp } from '@keyfob/mock-idp'
import { Hono } from 'hono'
import { jwk } from 'hono/jwk'
import * as jose from 'jose'
import { opsPerSecond, writeResult } from '../lib.mjs'

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5)
const ROUNDS = 10
const AUDIENCE = 'https://api.example'

const idp = await createMockIdp({
  clients: [{ clientId: 'svc', clientSecret: 's3cret' }],
  audience: AUDIENCE,
})
// typ JWT rather than the IdP's at+jwt, because Hono's jwk() (a context peer) refuses at+jwt.
const now = Math.floor(Date.now() / 1000)
const token = await idp.control.tokens.sign(
  { iss: idp.issuer, sub: 'svc', aud: AUDIENCE, iat: now, exp: now + 3600, scope: 'read', client_id: 'svc' },
  { typ: 'JWT' },
)
const jwksUrl = `${idp.issuer}/jwks`
const authorization = `Bearer ${token}`
const verifyOptions = { issuer: idp.issuer, audience: AUDIENCE, algorithms: ['RS256'] }

function guardedApp(options) {
  const app = new Hono()
  app.use('*', jwtAuth({ jwksUrl, issuer: idp.issuer, audience: AUDIENCE, fetch: idp.fetch, ...options }))
  app.get('/collections', (c) => c.text(c.get('auth').subject))
  return app
}
const guarded = guardedApp({})
const guardedNoCache = guardedApp({ cache: false })

const open = new Hono()
open.get('/collections', (c) => c.text('svc'))

const remote = jose.createRemoteJWKSet(new URL(jwksUrl), { [jose.customFetch]: idp.fetch })

const inline = new Hono()
inline.use('*', async (c, next) => {
  c.set('sub', (await jose.jwtVerify(token, remote, verifyOptions)).payload.sub)
  await next()
})
inline.get('/collections', (c) => c.text(c.get('sub')))

const honoJwk = new Hono()
honoJwk.use(
  '*',
  jwk({
    keys: idp.control.keys.list().map((k) => k.publicJwk),
    alg: ['RS256'],
    verification: { iss: idp.issuer, aud: AUDIENCE },
  }),
)
honoJwk.get('/collections', (c) => c.text(c.get('jwtPayload').sub))

async function request(app) {
  const response = await app.request('/collections', { headers: { authorization } })
  if (response.status !== 200) throw new Error(`status ${response.status}`)
  return response.text()
}

const peers = {
  'keyfob-guard jwtAuth, default (app.request)': () => request(guarded),
  'keyfob-guard jwtAuth, cache: false (app.request)': () => request(guardedNoCache),
  'jose.jwtVerify (bare loop)': async () => (await jose.jwtVerify(token, remote, verifyOptions)).payload.sub,
  'jose.jwtVerify inline in a Hono middleware (app.request)': () => request(inline),
  'hono jwk() (app.request, static keys)': () => request(honoJwk),
  'hono, no auth (app.request)': () => request(open),
}

const perSecond = await opsPerSecond(peers, {
  durationS: DURATION_S,
  rounds: ROUNDS,
  check: (subject) => subject === 'svc',
})
const joseRps = perSecond['jose.jwtVerify (bare loop)']
const ratio = perSecond['keyfob-guard jwtAuth, default (app.request)'] / joseRps
const ratioNoCache = perSecond['keyfob-guard jwtAuth, cache: false (app.request)'] / joseRps
const ratioNoCacheVsInline =
  perSecond['keyfob-guard jwtAuth, cache: false (app.request)'] /
  perSecond['jose.jwtVerify inline in a Hono middleware (app.request)']
const jwksFetches = idp.control.journal.entries({ endpoint: 'jwks' }).length
const report = {
  benchmark:
    'RS256 bearer JWT through jwtAuth on an in-process Hono app vs a bare jose.jwtVerify loop, sequential',
  node: process.version,
  durationSeconds: DURATION_S,
  requestsPerSecond: perSecond,
  guardVsBareJose: Number(ratio.toFixed(3)),
  guardWithoutCacheVsBareJose: Number(ratioNoCache.toFixed(3)),
  guardWithoutCacheVsInlineJoseInHono: Number(ratioNoCacheVsInline.toFixed(3)),
  jwksFetches,
  target: { minGuardVsBareJose: 0.8 },
  // The default answers a token it verified in the last 60 s from a bounded cache; without it every
  // request pays Hono's app.request plus a WebCrypto verify. Both verdicts are reported.
  met: ratio >= 0.8,
  metWithoutCache: ratioNoCache >= 0.8,
}
writeResult('guard', report)
console.log(JSON.stringify(report, null, 2))
