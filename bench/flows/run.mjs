// The cost of @keyfob/flows over the library it drives: one client-credentials token fetch through
// `clientCredentials` vs raw oauth4webapi vs openid-client, all against the same in-process mock IdP
// (opaque tokens, so the IdP's share is small and the clients' differences show), interleaved in
// rounds (in a rotated order, bench/lib.mjs) in the same process. Target: flows at most 10 %
// slower than raw oauth4webapi.
// Writes bench/results/flows.json.
import { clientCredentials } from '@keyfob/flows'
import { createMockIdp } from '@keyfob/mock-idp'
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import { opsPerSecond, writeResult } from '../lib.mjs'

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

const perSecond = await opsPerSecond(peers, {
  durationS: DURATION_S,
  rounds: ROUNDS,
  check: (token) => typeof token === 'string',
})
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
writeResult('flows', report)
console.log(JSON.stringify(report, null, 2))
