// The start-up cost of `keyfob token` with a valid cached token, timed as a whole process (spawn
// to exit) against a bare `node -e 0` of the same Node binary in the same run, interleaved (the
// order alternates every round). It runs the file the package's `bin` names, which requires the
// bundle the build writes. Target: at most 1.3× bare Node on every runtime measured, which holds only while `token`
// loads one bundled chunk and nothing it does not need (protocol code, prompts, the mock IdP).
//
// Runtimes: the Node running this script, and Node 24 when `scripts/install-node24.sh` has put it
// under tools/node24. On Node ≥ 22.1 the bin turns on the
// module compile cache: the warm-up calls fill it, so those figures are for a warm cache, what every
// call after the first sees.
//
// The standalone executable (`npm run build:bin`, dist-bin/<platform>-<arch>/keyfob, or the file
// KEYFOB_BENCH_BIN names) runs in the same rounds as the Node peers of the first runtime, so the
// three rows — standalone, npm-installed, bare `node -e 0` — share one run. Its target: at most
// 1.0× bare Node. Writes bench/results/cli.json.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, writeResult } from '../lib.mjs'

const RUNS = Number(process.env.BENCH_RUNS ?? 40)
const TARGET = 1.3
const STANDALONE_TARGET = 1.0
const cliDir = fileURLToPath(new URL('../../packages/cli/', import.meta.url))
const manifest = JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8'))
const bin = join(cliDir, manifest.bin.keyfob)
if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build -w @keyfob/cli\` first`)
const platform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`
const standalone =
  process.env.KEYFOB_BENCH_BIN ??
  fileURLToPath(
    new URL(
      `../../dist-bin/${platform}/keyfob${platform.startsWith('windows') ? '.exe' : ''}`,
      import.meta.url,
    ),
  )
const haveStandalone = existsSync(standalone)
if (!haveStandalone)
  console.warn(`${standalone} is missing: no standalone row (npm run build:bin -- --target=${platform})`)

const home = mkdtempSync(join(tmpdir(), 'keyfob-bench-cli-'))
const env = {
  PATH: process.env.PATH ?? '',
  KEYFOB_CONFIG_DIR: join(home, 'config'),
  KEYFOB_DATA_DIR: join(home, 'data'),
  // The compile cache of Node ≥ 22.1 lives here, so a run starts cold and warms up like a user's.
  TMPDIR: join(home, 'tmp'),
  NO_COLOR: '1',
}

// A provider and a token valid for an hour, written the way keyfob writes them.
mkdirSync(env.KEYFOB_CONFIG_DIR, { mode: 0o700 })
mkdirSync(env.KEYFOB_DATA_DIR, { mode: 0o700 })
mkdirSync(env.TMPDIR, { mode: 0o700 })
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

/** The medians of `keyfob token` and `node -e 0` under one Node binary, interleaved. */
function measure(node, withStandalone) {
  const peers = {
    'keyfob token': () => spawnSync(node, [bin, 'token'], { env, encoding: 'utf8' }),
    'node -e 0': () => spawnSync(node, ['-e', '0'], { env, encoding: 'utf8' }),
    ...(withStandalone
      ? { 'keyfob token (standalone)': () => spawnSync(standalone, ['token'], { env, encoding: 'utf8' }) }
      : {}),
  }
  for (const name of Object.keys(peers).filter((k) => k.startsWith('keyfob token'))) {
    const check = peers[name]()
    if (check.status !== 0 || check.stdout.trim() !== accessToken)
      throw new Error(`${name} did not print the cached token: ${check.status} ${check.stderr}`)
  }
  const samples = Object.fromEntries(Object.keys(peers).map((k) => [k, []]))
  const entries = Object.entries(peers)
  for (let i = 0; i < 3; i++) for (const [, run] of entries) run() // warm the file and compile caches
  for (let i = 0; i < RUNS; i++) {
    for (const [name, run] of i % 2 === 0 ? entries : [...entries].reverse()) {
      const start = performance.now()
      const result = run()
      samples[name].push(performance.now() - start)
      if (result.status !== 0) throw new Error(`${name} failed: ${result.stderr}`)
    }
  }
  const ms = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, Number(median(xs).toFixed(1))]))
  const ratio = ms['keyfob token'] / ms['node -e 0']
  // The two calls of a round ran back to back: their ratio is less swayed by the machine's load
  // drifting during the run. Reported alongside; the target applies to the ratio of the medians.
  const paired = median(samples['keyfob token'].map((t, i) => t / samples['node -e 0'][i]))
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()
  const standaloneRatio = withStandalone ? ms['keyfob token (standalone)'] / ms['node -e 0'] : undefined
  return {
    node: version,
    medianMs: ms,
    ratioVsBareNode: Number(ratio.toFixed(2)),
    medianPairedRatio: Number(paired.toFixed(2)),
    met: ratio <= TARGET,
    ...(standaloneRatio !== undefined
      ? {
          standalone: {
            ratioVsBareNode: Number(standaloneRatio.toFixed(2)),
            medianPairedRatio: Number(
              median(samples['keyfob token (standalone)'].map((t, i) => t / samples['node -e 0'][i])).toFixed(
                2,
              ),
            ),
            met: standaloneRatio <= STANDALONE_TARGET,
          },
        }
      : {}),
  }
}

const node24 = fileURLToPath(new URL('../../tools/node24/node_modules/.bin/node', import.meta.url))
const runtimes = [process.execPath, ...(existsSync(node24) ? [node24] : [])]
let results
try {
  results = runtimes.map((node, i) => measure(node, i === 0 && haveStandalone))
} finally {
  rmSync(home, { recursive: true, force: true })
}
const report = {
  benchmark:
    '`keyfob token` with a valid cached token (file store) vs `node -e 0`, whole process, median, per Node',
  bin: `packages/cli/${manifest.bin.keyfob.replace(/^\.\//, '')}`,
  standalone: haveStandalone
    ? {
        file: relative(fileURLToPath(new URL('../../', import.meta.url)), standalone),
        sizeMiB: Number((statSync(standalone).size / 2 ** 20).toFixed(1)),
        runtime: `bun ${JSON.parse(readFileSync(fileURLToPath(new URL('../../node_modules/bun/package.json', import.meta.url)), 'utf8')).version} (--compile, bytecode)`,
      }
    : 'not built',
  runs: RUNS,
  results,
  target: { maxRatioVsBareNode: TARGET, standaloneMaxRatioVsBareNode: STANDALONE_TARGET },
  met: results.every((r) => r.met && (r.standalone?.met ?? true)),
}
writeResult('cli', report)
console.log(JSON.stringify(report, null, 2))
