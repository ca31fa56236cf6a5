// The mock IdP's speed targets, measured against its peers in the same run (numbers from different
// runs or machines are not comparable). Writes bench/results/mock-idp.json.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { writeResult } from '../lib.mjs'

const here = fileURLToPath(new URL('.', import.meta.url))
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5)
const CONNECTIONS = 16

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function startServer(kind) {
  const port = await freePort()
  const child = spawn(process.execPath, [`${here}server.mjs`, kind, String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start in 20 s: ${stderr}`)), 20_000)
    child.stdout.on('data', (d) => {
      const match = /READY (\S+)/.exec(String(d))
      if (match) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}: ${stderr}`)))
  })
  return { url, stop: () => child.kill('SIGTERM') }
}

function load(url, seconds) {
  return autocannon({
    url: `${url}/token`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from('svc:s3cret').toString('base64')}`,
    },
    body: 'grant_type=client_credentials',
  })
}

async function throughput(kind) {
  const server = await startServer(kind)
  try {
    // Check the answer is really a token before timing anything.
    const probe = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('svc:s3cret').toString('base64')}`,
      },
      body: 'grant_type=client_credentials',
    })
    const body = await probe.json()
    if (probe.status !== 200 || typeof body.access_token !== 'string') {
      throw new Error(`${kind} did not issue a token: ${probe.status} ${JSON.stringify(body)}`)
    }
    const format = body.access_token.split('.').length === 3 ? 'jwt' : 'opaque'
    await load(server.url, 1) // warm-up
    const result = await load(server.url, DURATION_S)
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${kind}: ${result.non2xx} non-2xx answers and ${result.errors} errors under load`)
    }
    return {
      kind,
      format,
      requestsPerSecond: Math.round(result.requests.average),
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
      total: result.requests.total,
    }
  } finally {
    server.stop()
  }
}

/**
 * Fresh processes: createMockIdp() to the first token in-process (`readyMs`), with Node's one-time
 * fetch initialization excluded and reported on its own, and everything from the import on.
 */
async function readyToFirstToken(runs = 9) {
  const script = `
    const t0 = performance.now()
    const { createMockIdp } = await import('@keyfob/mock-idp')
    // Node loads its fetch implementation (undici) on the first Request of a process, whoever
    // creates it: a one-time runtime cost that a test process has paid before it starts an IdP.
    const tw = performance.now()
    new Request('http://warm.invalid/')
    const t1 = performance.now()
    const idp = await createMockIdp({ clients: [{ clientId: 'svc', clientSecret: 's3cret' }] })
    const r = await idp.fetch(idp.issuer + '/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + btoa('svc:s3cret') }, body: 'grant_type=client_credentials' })
    if (r.status !== 200) throw new Error('no token')
    const t2 = performance.now()
    console.log(JSON.stringify({ readyMs: t2 - t1, withImportMs: t2 - t0, nodeFetchInitMs: t1 - tw }))`
  const samples = []
  for (let i = 0; i < runs; i++) {
    const out = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: here,
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      let text = ''
      child.stdout.on('data', (d) => {
        text += d
      })
      child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))))
    })
    samples.push(JSON.parse(out))
  }
  return {
    readyMsMedian: median(samples.map((s) => s.readyMs)),
    withImportMsMedian: median(samples.map((s) => s.withImportMs)),
    nodeFetchInitMsMedian: median(samples.map((s) => s.nodeFetchInitMs)),
    runs,
  }
}

/** A whole device flow in-process: authorize device, approve via control, poll, token. */
async function deviceFlow(iterations = 300) {
  const { createMockIdp } = await import('@keyfob/mock-idp')
  const idp = await createMockIdp({
    clients: [{ clientId: 'cli', redirectUris: ['http://127.0.0.1/cb'] }],
    journalLimit: 100,
  })
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const durations = []
  for (let i = 0; i < iterations + 20; i++) {
    const start = performance.now()
    const auth = await (
      await idp.fetch(`${idp.issuer}/device_authorization`, {
        method: 'POST',
        headers: form,
        body: 'client_id=cli&scope=openid',
      })
    ).json()
    idp.control.devices.approve(auth.user_code)
    const token = await idp.fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: form,
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        client_id: 'cli',
        device_code: auth.device_code,
      }),
    })
    if (token.status !== 200) throw new Error(`device flow failed: ${await token.text()}`)
    await token.json()
    if (i >= 20) durations.push(performance.now() - start)
  }
  return { medianMs: median(durations), p95Ms: percentile(durations, 0.95), iterations }
}

/**
 * Heap after a full GC while the state maps fill: 300k client-credentials tokens (checkpoint every
 * 100k) and then 100k unauthenticated authorization requests that each leave a pending login. With
 * bounded state the heap stops growing at the caps instead of growing ~290 bytes a token forever.
 */
async function heapAfterGc() {
  const script = `
    const { createMockIdp } = await import('@keyfob/mock-idp')
    const idp = await createMockIdp({
      accessTokenFormat: 'opaque',
      login: 'form',
      journalLimit: 100,
      clients: [
        { clientId: 'svc', clientSecret: 's3cret' },
        { clientId: 'cli', redirectUris: ['http://127.0.0.1/cb'] },
      ],
    })
    const heapMb = () => { globalThis.gc(); globalThis.gc(); return Number((process.memoryUsage().heapUsed / 1048576).toFixed(1)) }
    const init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + btoa('svc:s3cret') }, body: 'grant_type=client_credentials' }
    const tokens = [heapMb()]
    for (let batch = 0; batch < 3; batch++) {
      for (let i = 0; i < 100_000; i++) {
        const r = await idp.fetch(idp.issuer + '/token', init)
        if (r.status !== 200) throw new Error('token ' + r.status)
        await r.arrayBuffer()
      }
      tokens.push(heapMb())
    }
    const authorize = idp.issuer + '/authorize?response_type=code&client_id=cli&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256'
    for (let i = 0; i < 100_000; i++) {
      const r = await idp.fetch(authorize)
      if (r.status !== 200) throw new Error('authorize ' + r.status)
      await r.arrayBuffer()
    }
    const afterAuthorize = heapMb()
    console.log(JSON.stringify({ tokens, afterAuthorize, stats: idp.control.stats() }))`
  const out = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      cwd: here,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let text = ''
    child.stdout.on('data', (d) => {
      text += d
    })
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))))
  })
  const { tokens, afterAuthorize, stats } = JSON.parse(out)
  return {
    heapAfterGcMb: {
      start: tokens[0],
      after100kTokens: tokens[1],
      after200kTokens: tokens[2],
      after300kTokens: tokens[3],
      after100kUnauthenticatedAuthorize: afterAuthorize,
    },
    // Growth per 100k tokens once the access-token cap (100k) is reached: ~0 when bounded.
    growthPer100kTokensAfterCapMb: Number(((tokens[3] - tokens[1]) / 2).toFixed(1)),
    stateSizes: stats,
  }
}

function median(values) {
  return percentile(values, 0.5)
}
function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return Number(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))].toFixed(3))
}

const results = {}
for (const kind of ['keyfob-jwt', 'oauth2-mock-server', 'keyfob-opaque', 'oidc-provider']) {
  process.stdout.write(`measuring ${kind} …\n`)
  results[kind] = await throughput(kind)
}
const ready = await readyToFirstToken()
const device = await deviceFlow()
const memory = await heapAfterGc()
const jwtRatio = results['keyfob-jwt'].requestsPerSecond / results['oauth2-mock-server'].requestsPerSecond
const opaqueRatio = results['keyfob-opaque'].requestsPerSecond / results['oidc-provider'].requestsPerSecond
const report = {
  date: new Date().toISOString(),
  node: process.version,
  machine: { cpus: (await import('node:os')).cpus().length },
  settings: {
    durationS: DURATION_S,
    connections: CONNECTIONS,
    endpoint: 'POST /token client_credentials over loopback',
  },
  throughput: results,
  ratios: {
    jwtVsOauth2MockServer: Number(jwtRatio.toFixed(2)),
    opaqueVsOidcProvider: Number(opaqueRatio.toFixed(2)),
  },
  inProcess: { readyToFirstToken: ready, deviceFlow: device },
  memory,
  targets: {
    jwtVsOauth2MockServer: { target: '>= 1.5', met: jwtRatio >= 1.5 },
    opaqueVsOidcProvider: { target: '>= 1.0', met: opaqueRatio >= 1 },
    readyToFirstTokenMs: { target: '< 50', met: ready.readyMsMedian < 50 },
    deviceFlowMedianMs: { target: '< 5', met: device.medianMs < 5 },
    heapGrowthPer100kTokensAfterCapMb: { target: '< 5', met: memory.growthPer100kTokensAfterCapMb < 5 },
  },
}
const out = writeResult('mock-idp', report)
process.stdout.write(
  `${JSON.stringify({ ratios: report.ratios, inProcess: report.inProcess, memory, targets: report.targets }, null, 2)}\n`,
)
process.stdout.write(`written to ${out}\n`)
