// The cost of @keyfob/flows over the library it drives: one client-credentials token fetch through
// `clientCredentials` vs raw oauth4webapi vs openid-client, all against the same in-process mock IdP
// (opaque tokens, so the IdP's share is small and the clients' differences show), interleaved in
// rounds in the same process. Target: flows at most 10 % slower than raw oauth4webapi.
// Writes bench/results/flows.json.
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { clientCredentials } from '@keyfob/flows'
import { createMockIdp } from '@keyfob/mock-idp'
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5)
const ROUNDS = 10

const idp = await createMockIdp({
  accessTokenFormat: 'opaque',
  clients: [{ clientId: 'svc', clientSecret: 's3cret', grantTypes: ['client_credentials'] }],
})
const as = await oauth.processDiscoveryResponse(
  new URL(idp.issuer),
  await oauth.discoveryRequest(new URL(idp.issuer), {
    [oauth.customFetch]: idp.fetch,
    [oauth.allowInsecureRequests]: true,
  }),
)

const peers = {
  'keyfob-flows': async () => {
    const tokens = await clientCredentials({
      metadata: as,
      client: { clientId: 'svc', clientSecret: 's3cret' },
      fetch: idp.fetch,
    })
    return tokens.accessToken
  },
  oauth4webapi: async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: 'svc' },
      oauth.ClientSecretBasic('s3cret'),
      new URLSearchParams(),
      {
        [oauth.customFetch]: idp.fetch,
        [oauth.allowInsecureRequests]: true,
        signal: AbortSignal.timeout(30_000),
      },
    )
    return (await oauth.processClientCredentialsResponse(as, { client_id: 'svc' }, response)).access_token
  },
  'openid-client': await (async () => {
    const config = new client.Configuration(as, 'svc', 's3cret')
    config[client.customFetch] = idp.fetch
    client.allowInsecureRequests(config)
    return async () => (await client.clientCredentialsGrant(config)).access_token
  })(),
}

async function measure(fn, ms) {
  let count = 0
  const end = performance.now() + ms
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) if (typeof (await fn()) !== 'string') throw new Error('no access token')
    count += 20
  }
  return count
}

// Warm up every path (JIT, the first Request), then interleave so drift hits all alike.
for (const fn of Object.values(peers)) await measure(fn, 300)
const counts = Object.fromEntries(Object.keys(peers).map((k) => [k, 0]))
const sliceMs = (DURATION_S * 1000) / ROUNDS
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(peers)) counts[name] += await measure(fn, sliceMs)
}
const perSecond = Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, Math.round(n / DURATION_S)]))
const overhead = perSecond.oauth4webapi / perSecond['keyfob-flows'] - 1
const report = {
  benchmark: 'client-credentials token fetch, in-process mock IdP (opaque tokens), sequential',
  node: process.version,
  durationSeconds: DURATION_S,
  tokensPerSecond: perSecond,
  flowsOverheadVsOauth4webapi: Number(overhead.toFixed(4)),
  flowsVsOpenidClient: Number((perSecond['keyfob-flows'] / perSecond['openid-client']).toFixed(3)),
  target: { maxOverheadVsOauth4webapi: 0.1 },
  met: overhead <= 0.1,
}
const dir = fileURLToPath(new URL('../results/', import.meta.url))
mkdirSync(dir, { recursive: true })
writeFileSync(`${dir}flows.json`, `${JSON.stringify(report, null, 2)}\n`)
console.log(JSON.stringify(report, null, 2))
