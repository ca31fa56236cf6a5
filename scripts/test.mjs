// `npm test`: every check and every runner (vitest on Node, Deno, Bun, package checks) in one
// command that ends with one `N passed, N failed` line, so a skipped runner or a suite that ran
// nothing cannot pass unnoticed.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, 'test-results')
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const onlyArg = process.argv.find((a) => a.startsWith('--only='))
const only = onlyArg ? new Set(onlyArg.slice(7).split(',')) : undefined

/** Runs a command, streaming its output with a prefix; resolves its exit code. */
function run(label, command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...options.env },
    })
    const prefix = `[${label}] `
    const pipe = (stream, target) => {
      let pending = ''
      stream.on('data', (chunk) => {
        pending += chunk
        const lines = pending.split('\n')
        pending = lines.pop() ?? ''
        for (const line of lines) target.write(`${prefix}${line}\n`)
      })
      stream.on('end', () => {
        if (pending) target.write(`${prefix}${pending}\n`)
      })
    }
    pipe(child.stdout, process.stdout)
    pipe(child.stderr, process.stderr)
    child.once('error', (error) => {
      process.stderr.write(`${prefix}cannot start ${command}: ${error.message}\n`)
      resolve(127)
    })
    child.once('close', (code) => resolve(code ?? 1))
  })
}

/** The path of an npm-installed binary; a missing one is a failure that names its package. */
function bin(name, npmPackage) {
  const path = join(root, 'node_modules', '.bin', name)
  if (existsSync(path)) return path
  const message = `${name} is missing: the npm package "${npmPackage}" did not install (run \`npm ci\`; optional dependencies must not be disabled)`
  process.stderr.write(`${message}\n`)
  record(message, { passed: 0, failed: 1, skipped: 0 })
  return undefined
}

/** Leaf test cases of a JUnit file: a case whose name is a prefix of another's (a describe) is not a test. */
function junit(file) {
  if (!existsSync(file)) return undefined
  const xml = readFileSync(file, 'utf8')
  const cases = [...xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)].map((m) => ({
    name: (/name="([^"]*)"/.exec(m[1]) ?? [])[1] ?? '',
    body: m[3] ?? '',
  }))
  const names = cases.map((c) => c.name)
  const leaves = cases.filter((c) => !names.some((n) => n.startsWith(`${c.name} &gt; `)))
  const failed = leaves.filter((c) => /<(failure|error)\b/.test(c.body)).length
  const skipped = leaves.filter((c) => /<skipped\b/.test(c.body)).length
  return { passed: leaves.length - failed - skipped, failed, skipped }
}

const sharedTests = readdirSync(join(root, 'packages'))
  .filter((p) => existsSync(join(root, 'packages', p, 'test')))
  .flatMap((p) =>
    readdirSync(join(root, 'packages', p, 'test'))
      .filter((f) => f.endsWith('.test.ts') && !f.endsWith('.node.test.ts'))
      .map((f) => `packages/${p}/test/${f}`),
  )

const results = []
const record = (name, counts) => {
  results.push({ name, ...counts })
}
const check = async (name, command, args, env = {}) => {
  if (only && !only.has(name)) return
  const code = await run(name, command, args, { env })
  record(name, code === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 })
}

const started = performance.now()
const wants = (name) => !only || only.has(name)
/** Seconds since the start, for the phase timings printed at the end. */
const seconds = () => Math.round((performance.now() - started) / 1000)
const timings = []
/** Runs `fn` and notes when it started and ended, for the timing table at the end. */
async function timed(name, fn) {
  const from = seconds()
  await fn()
  timings.push({ name, from, to: seconds() })
}

/** vitest on one Node binary, counted from its JUnit report; `args` are extra vitest arguments. */
function vitestOn(label, nodeBinary, args = []) {
  const file = join(out, `${label.split(' ')[0]}.xml`)
  return run(
    label,
    nodeBinary,
    [
      join(root, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--reporter=default',
      '--reporter=junit',
      `--outputFile.junit=${file}`,
      ...args,
    ],
    // The packages were built once, below, before any vitest run: the global setup skips its build.
    { env: { KEYFOB_TEST_BUILT: '1' } },
  ).then((code) => {
    const counts = junit(file)
    record(label, counts ?? { passed: 0, failed: 1, skipped: 0 })
    if (code !== 0 && counts && counts.failed === 0)
      record(`${label} exit`, { passed: 0, failed: 1, skipped: 0 })
  })
}

/** A runner over the shared files that writes JUnit to `file`. */
async function shared(label, command, args, file) {
  if (command === undefined) return
  const code = await run(label, command, args)
  const counts = junit(file)
  record(label, counts ?? { passed: 0, failed: 1, skipped: 0 })
  if (code !== 0 && counts && counts.failed === 0)
    record(`${label} exit`, { passed: 0, failed: 1, skipped: 0 })
}

// The standalone executables (issue 20): built from src/ for linux-x64 while the runners start
// (the build mostly waits on writing 330 MB), tested at the end of the source lane, which ends
// before the dist lane. The suites the issue names run against them: the same files, with the
// executables' paths injected.
const binDir = join(out, 'bin')
const binBuild = wants('binaries')
  ? run('binaries build', process.execPath, [
      'scripts/build-bin.mjs',
      '--target=linux-x64',
      `--out=${binDir}`,
    ])
  : undefined
async function binaries() {
  if ((await binBuild) !== 0) {
    record('binaries build', { passed: 0, failed: 1, skipped: 0 })
    return
  }
  const file = join(out, 'binaries.xml')
  const code = await run(
    'binaries',
    process.execPath,
    [
      join(root, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--reporter=default',
      '--reporter=junit',
      `--outputFile.junit=${file}`,
      'packages/cli/test/cli.node.test.ts',
      'packages/cli/test/keychain.node.test.ts',
      'packages/mock-idp/test/program.node.test.ts',
      'packages/gateway/test/process.node.test.ts',
      'packages/gateway/test/modes.node.test.ts',
      'packages/gateway/test/paths.node.test.ts',
      'packages/gateway/test/dpop.node.test.ts',
      'packages/gateway/test/streaming.node.test.ts',
    ],
    {
      env: {
        // The suites' other parts (the mock IdP in-process) read dist/, built once by the dist lane.
        KEYFOB_TEST_BUILT: '1',
        KEYFOB_TEST_BIN: join(binDir, 'linux-x64', 'keyfob'),
        KEYFOB_TEST_MOCK_IDP_BIN: join(binDir, 'linux-x64', 'keyfob-mock-idp'),
        KEYFOB_TEST_GATEWAY_BIN: join(binDir, 'linux-x64', 'keyfob-guard'),
      },
    },
  )
  const counts = junit(file)
  record('binaries (linux-x64)', counts ?? { passed: 0, failed: 1, skipped: 0 })
  if (code !== 0 && counts && counts.failed === 0)
    record('binaries exit', { passed: 0, failed: 1, skipped: 0 })
}

// Two lanes, so that both cores stay busy from the first second to the last (a phase that waited
// for its slowest runner left a core idle: Bun ends in seconds, Deno long before vitest, and the
// package checks ran alone at the end).
//
// - The dist lane: ONE `turbo run build`, `npm start`, then vitest on Node 20 and on Node 24,
//   which run the built dist/. `npm start` runs turbo build itself: a cache hit, but one that
//   rewrites dist/ in place, so it goes first, before anything else reads dist/.
// - The source lane: static checks, then Deno and Bun (they read src/ through the `source`
//   condition and never dist/), then the package checks, which read dist/ once the dist lane is
//   past `npm start`, and are told not to build again.
let built
const buildOnce = () => {
  built ??= (async () => {
    const code = await run('build', 'npx', ['turbo', 'run', 'build', '--output-logs=errors-only'])
    record('build', code === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 })
    return code === 0
  })()
  return built
}
const needsBuild = ['node', 'node24', 'start', 'packages', 'binaries'].some(wants)
/** Resolves once nothing will write dist/ any more (the build and `npm start` are done). */
let distWritten
const distSettled = new Promise((resolve) => {
  distWritten = resolve
})

const distLane = timed('dist lane', async () => {
  if (!needsBuild) return distWritten()
  await timed('build', buildOnce)
  // The main job: `npm start` on a free port, demo login included, then exit.
  if (wants('start'))
    await timed('start', () =>
      check('start', process.execPath, ['scripts/start.mjs', '--once'], { KEYFOB_PORT: '0' }),
    )
  distWritten()
  if (wants('node')) await timed('node20 (vitest)', () => vitestOn('node20 (vitest)', process.execPath))
  if (wants('node24')) {
    const node24 = join(root, 'tools', 'node24', 'node_modules', '.bin', 'node')
    if (!existsSync(node24)) await run('node24', 'bash', ['scripts/install-node24.sh'])
    if (existsSync(node24))
      await timed('node24 (vitest)', () =>
        vitestOn(
          'node24 (vitest)',
          node24,
          // Suites that test something other than the Node runtime run once, on Node 20 (see
          // CONTRIBUTING.md, "Tests"): the docs site in chromium tests VitePress's output and the
          // browser (the server is a static file server), and the store's gnome-keyring suite the
          // daemon and keyfob's lock protocol (the keychain on Node 24 is still tested, end to
          // end, by packages/cli/test/keychain.node.test.ts).
          [
            '--exclude=apps/docs/test/site.node.test.ts',
            '--exclude=packages/store/test/keychain.node.test.ts',
          ],
        ),
      )
    else record('node24: the npm package node@24 did not install', { passed: 0, failed: 1, skipped: 0 })
  }
})

const sourceLane = timed('source lane', async () => {
  // Static checks first: they are cheap and their failures explain later ones.
  if (wants('typecheck'))
    await timed('typecheck', () =>
      check('typecheck', 'npx', ['turbo', 'run', 'typecheck', '--output-logs=errors-only']),
    )
  const biome = bin('biome', '@biomejs/biome')
  if (biome) await check('lint', biome, ['check', '.'])
  if (existsSync(join(root, 'scripts', 'sync-jsr.mjs')))
    await check('versions', process.execPath, ['scripts/sync-jsr.mjs', '--check'])
  if (wants('deno')) {
    const file = join(out, 'deno.xml')
    await timed('deno', () =>
      shared(
        'deno',
        bin('deno', 'deno'),
        [
          'test',
          '-A',
          '--no-check',
          '--v8-flags=--expose-gc',
          '--config',
          'deno.test.json',
          '--conditions',
          'source',
          `--junit-path=${file}`,
          ...sharedTests,
        ],
        file,
      ),
    )
  }
  if (wants('bun')) {
    const file = join(out, 'bun.xml')
    await timed('bun', () =>
      shared(
        'bun',
        bin('bun', 'bun'),
        [
          'test',
          '--conditions=source',
          '--reporter=junit',
          `--reporter-outfile=${file}`,
          ...sharedTests.map((f) => `./${f}`),
        ],
        file,
      ),
    )
  }
  if (existsSync(join(root, 'scripts', 'check-packages.mjs')) && wants('packages')) {
    // The packages built above (the build is counted once, as "build"); a second turbo run here
    // would rewrite dist/ while the dist lane's tests run it.
    if (!(await buildOnce())) return
    await distSettled
    await timed('packages', async () => {
      const file = join(out, 'packages.json')
      const code = await run('packages', process.execPath, [
        'scripts/check-packages.mjs',
        '--no-build',
        `--results=${file}`,
      ])
      const counts = existsSync(file)
        ? JSON.parse(readFileSync(file, 'utf8'))
        : { passed: 0, failed: 1, skipped: 0 }
      record('packages', counts)
      if (code !== 0 && counts.failed === 0) record('packages exit', { passed: 0, failed: 1, skipped: 0 })
    })
  }
  if (wants('binaries')) {
    await distSettled
    await timed('binaries', binaries)
  }
})
await Promise.all([distLane, sourceLane])

const total = results.reduce(
  (t, r) => ({ passed: t.passed + r.passed, failed: t.failed + r.failed, skipped: t.skipped + r.skipped }),
  {
    passed: 0,
    failed: 0,
    skipped: 0,
  },
)
process.stdout.write(`\n${'runner'.padEnd(22)} passed  failed  skipped\n`)
for (const r of results) {
  process.stdout.write(
    `${r.name.padEnd(22)} ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}  ${String(r.skipped).padStart(7)}\n`,
  )
}
for (const t of timings)
  process.stdout.write(
    `${t.name.padEnd(22)} ${String(t.from).padStart(5)} s → ${String(t.to).padStart(4)} s  (${t.to - t.from} s)\n`,
  )
process.stdout.write(`(${((performance.now() - started) / 1000).toFixed(0)} s)\n`)
const ranNothing = total.passed + total.failed === 0
const summary = `${total.passed} passed, ${total.failed} failed${total.skipped > 0 ? `, ${total.skipped} skipped` : ''}`
// .ci/run prints this file's line last, after anything npm adds on failure.
writeFileSync(join(out, 'summary.txt'), `${summary}\n`)
process.stdout.write(`${summary}\n`)
process.exit(total.failed > 0 || ranNothing ? 1 : 0)
