// Without it every keyfob program needs Node and an npm install: `npm run build:bin` builds
// keyfob, keyfob-mock-idp and keyfob-guard as standalone executables (Bun's `--compile`, see
// apps/docs/guide/standalone.md for why Bun) under dist-bin/<target>/ with a SHA256SUMS file.
//
//   node scripts/build-bin.mjs                         every target the registry serves
//   node scripts/build-bin.mjs --target=linux-x64      only these (comma-separated)
//   node scripts/build-bin.mjs --out=dist-bin          the output folder (default dist-bin)
//
// A foreign target needs two things from the npm registry: Bun's runtime for it
// (@oven/bun-<os>-<arch>, which `bun build --compile --target` downloads itself) and the keychain's
// native addon for it (@napi-rs/keyring-<platform>, fetched here with `npm pack`). A target whose
// packages the registry does not serve is skipped, after saying exactly which tarballs it would
// have fetched. The machine's own target (linux-x64 here) needs nothing from the network.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The targets: Bun's name, its runtime package, and the keyring addon package. */
const TARGETS = {
  'linux-x64': {
    bun: 'bun-linux-x64',
    runtime: '@oven/bun-linux-x64',
    keyring: '@napi-rs/keyring-linux-x64-gnu',
  },
  'linux-arm64': {
    bun: 'bun-linux-arm64',
    runtime: '@oven/bun-linux-aarch64',
    keyring: '@napi-rs/keyring-linux-arm64-gnu',
  },
  'darwin-x64': {
    bun: 'bun-darwin-x64',
    runtime: '@oven/bun-darwin-x64',
    keyring: '@napi-rs/keyring-darwin-x64',
  },
  'darwin-arm64': {
    bun: 'bun-darwin-arm64',
    runtime: '@oven/bun-darwin-aarch64',
    keyring: '@napi-rs/keyring-darwin-arm64',
  },
  'windows-x64': {
    bun: 'bun-windows-x64',
    runtime: '@oven/bun-windows-x64',
    keyring: '@napi-rs/keyring-win32-x64-msvc',
  },
}

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const out = resolve(root, arg('out') ?? 'dist-bin')
const wanted = (arg('target') ?? Object.keys(TARGETS).join(',')).split(',')
for (const target of wanted)
  if (!(target in TARGETS))
    throw new Error(`build-bin: unknown target ${target}; known: ${Object.keys(TARGETS).join(', ')}`)

const versionOf = (name) =>
  JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
const bunVersion = versionOf('bun')
const keyringVersion = versionOf('@napi-rs/keyring')
const bunBinary = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'bun.exe' : 'bun')
if (!existsSync(bunBinary))
  throw new Error('build-bin: node_modules/.bin/bun is missing: run `npm ci` (bun is a dev dependency)')
const host = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`
const registry = (
  spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).stdout.trim() ||
  'https://registry.npmjs.org/'
).replace(/\/?$/, '/')

/** The tarball of `name@version` on the registry, or undefined (with the reason) when it does not serve it. */
function tarball(name, version) {
  const view = spawnSync('npm', ['view', `${name}@${version}`, 'dist.tarball'], { encoding: 'utf8' })
  const url = view.stdout.trim()
  if (view.status === 0 && url) return { url }
  const base = name.split('/').at(-1)
  return {
    missing: `${registry}${name}/-/${base}-${version}.tgz`,
    reason: (view.stderr.split('\n').find((l) => /error/i.test(l)) ?? `exit ${view.status}`).trim(),
  }
}

/** Unpacks `name@version` from the registry into a cache folder (npm pack + tar); returns the folder. */
function unpacked(name, version) {
  const cache = join(root, 'node_modules', '.cache', 'keyfob-bin', `${name.replace('/', '+')}@${version}`)
  const dir = join(cache, 'package')
  if (existsSync(join(dir, 'package.json'))) return dir
  mkdirSync(cache, { recursive: true })
  const pack = spawnSync('npm', ['pack', `${name}@${version}`, '--pack-destination', cache, '--silent'], {
    encoding: 'utf8',
  })
  if (pack.status !== 0) throw new Error(`build-bin: npm pack ${name}@${version} failed: ${pack.stderr}`)
  const file = join(cache, pack.stdout.trim().split('\n').at(-1))
  const tar = spawnSync('tar', ['-xzf', file, '-C', cache], { encoding: 'utf8' })
  if (tar.status !== 0) throw new Error(`build-bin: cannot unpack ${file}: ${tar.stderr}`)
  return dir
}

// A folder of one build: binaries of an earlier build would be listed in SHA256SUMS as if current.
// Only a folder this script wrote (it has SHA256SUMS) or an empty one is emptied.
if (existsSync(out) && readdirSync(out).length > 0 && !existsSync(join(out, 'SHA256SUMS')))
  throw new Error(
    `build-bin: ${out} is not empty and holds no SHA256SUMS of an earlier build; pick another --out`,
  )
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex')
const built = []
const skipped = []
for (const target of wanted) {
  const { bun, runtime, keyring } = TARGETS[target]
  const job = { target, bunTarget: bun, outdir: relative(root, join(out, target)) }
  if (target !== host) {
    const needs = [tarball(runtime, bunVersion), tarball(keyring, keyringVersion)]
    const missing = needs.filter((n) => n.missing)
    if (missing.length > 0) {
      process.stdout.write(
        `skip ${target}: the registry does not serve what it needs; it would fetch:\n${missing
          .map((m) => `  ${m.missing}  (${m.reason})`)
          .join('\n')}\n`,
      )
      skipped.push(target)
      continue
    }
    process.stdout.write(`${target}: fetching ${needs.map((n) => n.url).join(' and ')}\n`)
    job.keyring = { name: keyring, dir: unpacked(keyring, keyringVersion) }
  }
  const compile = spawnSync(bunBinary, [join(root, 'scripts', 'bin', 'compile.mjs'), JSON.stringify(job)], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (compile.status !== 0)
    throw new Error(`build-bin: compiling for ${target} failed (exit ${compile.status})`)
  built.push(target)
}

// One SHA256SUMS over everything under the folder (`sha256sum -c SHA256SUMS` checks it there).
const files = readdirSync(out, { recursive: true })
  .map(String)
  .filter((f) => f !== 'SHA256SUMS' && statSync(join(out, f)).isFile())
  .sort()
writeFileSync(join(out, 'SHA256SUMS'), files.map((f) => `${sha256(join(out, f))}  ${f}\n`).join(''))
for (const f of files)
  process.stdout.write(`${(statSync(join(out, f)).size / 2 ** 20).toFixed(1).padStart(7)} MiB  ${f}\n`)
process.stdout.write(
  `built ${built.join(', ') || 'nothing'}${skipped.length ? `; skipped ${skipped.join(', ')}` : ''} (bun ${bunVersion}) in ${relative(root, out)}/\n`,
)
if (built.length === 0) process.exit(1)
