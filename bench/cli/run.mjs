// The start-up cost of `keyfob token` with a valid cached token, timed as a whole process (spawn
// to exit) against a bare `node -e 0` in the same run, interleaved. Target: at most 2.5× bare Node,
// which holds only while `token` lazy-loads everything it does not need (protocol code, prompts,
// the mock IdP). Writes bench/results/cli.json.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, writeResult } from '../lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 40)
const bin = fileURLToPath(new URL('../../packages/cli/bin/keyfob.mjs', import.meta.url))
const home = mkdtempSync(join(tmpdir(), 'keyfob-bench-cli-'))
const env = {
  PATH: process.env.PATH ?? '',
  KEYFOB_CONFIG_DIR: join(home, 'config'),
  KEYFOB_DATA_DIR: join(home, 'data'),
  NO_COLOR: '1',
}

// A provider and a token valid for an hour, written the way keyfob writes them.
mkdirSync(env.KEYFOB_CONFIG_DIR, { mode: 0o700 })
mkdirSync(env.KEYFOB_DATA_DIR, { mode: 0o700 })
const issuer = 'https://idp.example'
writeFileSync(
  join(env.KEYFOB_CONFIG_DIR, 'config.json'),
  JSON.stringify({ version: 1, providers: { idp: { issuer, client: { clientId: 'cli' } } }, apis: {} }),
  { mode: 0o600 },
)
const accessToken = `eyJhbGciOiJub25lIn0.${Buffer.from('{"sub":"bench"}').toString('base64url')}.x`
writeFileSync(
  join(env.KEYFOB_DATA_DIR, 'tokens.json'),
  JSON.stringify({
    version: 1,
    tokens: [
      {
        issuer,
        clientId: 'cli',
        record: {
          accessToken,
          tokenType: 'bearer',
          expiresAt: Date.now() + 3_600_000,
          updatedAt: Date.now(),
        },
      },
    ],
  }),
  { mode: 0o600 },
)

const peers = {
  'keyfob token': () => spawnSync(process.execPath, [bin, 'token'], { env, encoding: 'utf8' }),
  'node -e 0': () => spawnSync(process.execPath, ['-e', '0'], { env, encoding: 'utf8' }),
}
const check = peers['keyfob token']()
if (check.status !== 0 || check.stdout.trim() !== accessToken)
  throw new Error(`keyfob token did not print the cached token: ${check.status} ${check.stderr}`)

const samples = Object.fromEntries(Object.keys(peers).map((k) => [k, []]))
for (let i = 0; i < 3; i++) for (const run of Object.values(peers)) run() // warm the file cache
for (let i = 0; i < RUNS; i++) {
  for (const [name, run] of Object.entries(peers)) {
    const start = performance.now()
    const result = run()
    samples[name].push(performance.now() - start)
    if (result.status !== 0) throw new Error(`${name} failed: ${result.stderr}`)
  }
}
const ms = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, Number(median(xs).toFixed(1))]))
const ratio = ms['keyfob token'] / ms['node -e 0']
const report = {
  benchmark: '`keyfob token` with a valid cached token (file store) vs `node -e 0`, whole process, median',
  node: process.version,
  runs: RUNS,
  medianMs: ms,
  ratioVsBareNode: Number(ratio.toFixed(2)),
  target: { maxRatioVsBareNode: 2.5 },
  met: ratio <= 2.5,
}
writeResult('cli', report)
console.log(JSON.stringify(report, null, 2))
