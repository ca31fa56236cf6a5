// Checks what we publish, not what we test: each package is built, linted as a package (publint,
// attw ESM-only), dry-run published to JSR (slow types fail), packed, installed from its tarball
// into an empty project and imported there under Node, Deno and Bun. Catches a broken `exports`
// map, a file missing from `files`, or a dependency that only resolves inside the monorepo.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const resultsArg = process.argv.find((a) => a.startsWith('--results='))
const binDir = join(root, 'node_modules', '.bin')

/** What a consumer's first line does with each package, run under every runtime. */
const SMOKE = {
  '@keyfob/guard': `const { Hono } = await import('hono'); const app = new Hono(); const key = 'smoke-test-key-0123456789'; app.use(m.apiKeyAuth({ keys: [{ id: 'ci', key }] })); app.get('/', (c) => c.text(c.var.auth.keyId)); const denied = await app.request('/'); const allowed = await app.request('/', { headers: { 'x-api-key': key } }); if (denied.status !== 401 || allowed.status !== 200 || (await allowed.text()) !== 'ci') throw new Error('guard ' + denied.status + ' ' + allowed.status)`,
  '@keyfob/mock-idp': `const idp = await m.createMockIdp(); const r = await idp.fetch(idp.issuer + '/.well-known/openid-configuration'); if (r.status !== 200) throw new Error('discovery ' + r.status)`,
}

function exec(command, args, cwd) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } })
    let output = ''
    child.stdout.on('data', (d) => {
      output += d
    })
    child.stderr.on('data', (d) => {
      output += d
    })
    child.once('error', (error) =>
      resolve({ code: 127, output: `cannot start ${command}: ${error.message}` }),
    )
    child.once('close', (code) => resolve({ code: code ?? 1, output }))
  })
}

const results = []
async function check(name, command, args, cwd) {
  const { code, output } = await exec(command, args, cwd)
  const ok = code === 0
  results.push({ name, ok })
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}\n`)
  if (!ok) process.stdout.write(`${output.trim().split('\n').slice(-40).join('\n')}\n`)
  return ok
}

const packages = readdirSync(join(root, 'packages'))
  .map((dir) => ({ dir: join(root, 'packages', dir), pkg: join(root, 'packages', dir, 'package.json') }))
  .filter(({ dir, pkg }) => existsSync(pkg) && existsSync(join(dir, 'src', 'index.ts')))
  .map(({ dir, pkg }) => ({ dir, manifest: JSON.parse(readFileSync(pkg, 'utf8')) }))
  .filter(({ manifest }) => !manifest.private)

// --no-build: the caller built every package just before and counted it (scripts/test.mjs, whose
// vitest runs read dist/ meanwhile: a turbo cache hit would rewrite it under them).
if (!process.argv.includes('--no-build')) {
  const build = await exec('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], root)
  results.push({ name: 'build (tsc to dist)', ok: build.code === 0 })
  process.stdout.write(`${build.code === 0 ? 'ok  ' : 'FAIL'} build (tsc to dist)\n`)
  if (build.code !== 0) process.stdout.write(`${build.output}\n`)
}

const work = mkdtempSync(join(tmpdir(), 'keyfob-pack-'))
const tarballs = []
try {
  for (const { dir, manifest } of packages) {
    const name = manifest.name
    await check(`${name}: publint --strict`, join(binDir, 'publint'), ['--strict', dir], root)
    await check(
      `${name}: attw --pack (esm-only)`,
      join(binDir, 'attw'),
      ['--pack', dir, '--profile', 'esm-only'],
      root,
    )
    await check(
      `${name}: deno publish --dry-run`,
      join(binDir, 'deno'),
      ['publish', '--dry-run', '--allow-dirty'],
      dir,
    )
    const packed = await exec('npm', ['pack', '--silent', '--pack-destination', work], dir)
    const file = packed.output.trim().split('\n').pop()
    if (packed.code === 0 && file) tarballs.push({ name, file: join(work, file) })
    else results.push({ name: `${name}: npm pack`, ok: false })
  }

  // An empty project that installs the tarballs the way a user would.
  const project = join(work, 'consumer')
  await exec('mkdir', ['-p', project], work)
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  )
  const installed = await check(
    'install the packed tarballs into an empty project',
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--ignore-scripts',
      ...tarballs.map((t) => t.file),
    ],
    project,
  )
  if (installed) {
    for (const { name } of tarballs) {
      const body = `const m = await import(${JSON.stringify(name)}); if (Object.keys(m).length === 0) throw new Error('no exports'); ${SMOKE[name] ?? ''}`
      writeFileSync(join(project, 'smoke.mjs'), `${body}\n`)
      await check(`${name}: import from tarball on Node`, process.execPath, ['smoke.mjs'], project)
      await check(
        `${name}: import from tarball on Deno`,
        join(binDir, 'deno'),
        ['run', '-A', '--node-modules-dir=manual', 'smoke.mjs'],
        project,
      )
      await check(`${name}: import from tarball on Bun`, join(binDir, 'bun'), ['smoke.mjs'], project)
    }
    // A published command must start from the tarball, with only its declared dependencies.
    for (const { manifest } of packages) {
      for (const command of Object.keys(manifest.bin ?? {})) {
        await check(
          `${manifest.name}: \`${command} --version\` from tarball`,
          process.execPath,
          [join(project, 'node_modules', '.bin', command), '--version'],
          project,
        )
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

const failed = results.filter((r) => !r.ok).length
const summary = { passed: results.length - failed, failed, skipped: 0 }
if (resultsArg) writeFileSync(resultsArg.slice('--results='.length), JSON.stringify(summary))
process.stdout.write(`package checks: ${summary.passed} passed, ${summary.failed} failed\n`)
process.exit(failed > 0 ? 1 : 0)
