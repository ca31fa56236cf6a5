// `npm run release:bin`: after `changeset publish` put the npm packages out, attaches the standalone
// executables and their SHA256SUMS to the GitHub release of the tag, so a release never ships
// packages whose one-file downloads are missing, stale or unverifiable.
//
//   node scripts/release-bins.mjs                    build every target, upload to @keyfob/cli@<version>
//   node scripts/release-bins.mjs --tag=v0.2.0       another tag
//   node scripts/release-bins.mjs --no-build         upload what dist-bin/ holds
//
// Uploads with `gh release upload` only when `gh` is installed and the tag exists in this
// repository (creating the release for the tag if there is none yet); otherwise it prints what it
// would upload and why it did not, and uploads nothing.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const version = JSON.parse(readFileSync(join(root, 'packages', 'cli', 'package.json'), 'utf8')).version
const tag = arg('tag') ?? `@keyfob/cli@${version}`
const dist = join(root, 'dist-bin')

if (!process.argv.includes('--no-build')) {
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-bin.mjs')], {
    cwd: root,
    stdio: 'inherit',
  })
  if (build.status !== 0) process.exit(build.status ?? 1)
}
if (!existsSync(join(dist, 'SHA256SUMS'))) {
  console.error(`release-bins: ${relative(root, dist)}/SHA256SUMS is missing: run npm run build:bin first`)
  process.exit(1)
}

// Release assets have flat names: <program>-<target>[.exe], e.g. keyfob-linux-x64, keyfob-guard-windows-x64.exe.
const assets = join(dist, 'release')
rmSync(assets, { recursive: true, force: true })
mkdirSync(assets)
const files = []
for (const target of readdirSync(dist).filter(
  (d) => d !== 'release' && statSync(join(dist, d)).isDirectory(),
))
  for (const file of readdirSync(join(dist, target))) {
    const name = file.endsWith('.exe') ? `${file.slice(0, -4)}-${target}.exe` : `${file}-${target}`
    copyFileSync(join(dist, target, file), join(assets, name))
    files.push(name)
  }
files.sort()
const sums = files.map((f) => {
  const hash = createHash('sha256')
    .update(readFileSync(join(assets, f)))
    .digest('hex')
  return `${hash}  ${f}\n`
})
writeFileSync(join(assets, 'SHA256SUMS'), sums.join(''))
const upload = [...files, 'SHA256SUMS'].map((f) => join(assets, f))

const has = (command, args) => spawnSync(command, args, { cwd: root, stdio: 'ignore' }).status === 0
const why = !has('gh', ['--version'])
  ? 'the GitHub CLI (gh) is not installed'
  : !has('git', ['rev-parse', '--verify', '--quiet', `refs/tags/${tag}`])
    ? `there is no tag ${tag} in this repository (changeset publish creates it; or pass --tag=)`
    : undefined
if (why !== undefined) {
  console.log(`release-bins: nothing uploaded: ${why}. It would upload to the release of ${tag}:`)
  for (const file of upload)
    console.log(`  ${(statSync(file).size / 2 ** 20).toFixed(1).padStart(7)} MiB  ${relative(root, file)}`)
  process.exit(0)
}
if (!has('gh', ['release', 'view', tag]))
  if (!has('gh', ['release', 'create', tag, '--verify-tag', '--title', tag, '--generate-notes'])) {
    console.error(`release-bins: gh release create ${tag} failed`)
    process.exit(1)
  }
const result = spawnSync('gh', ['release', 'upload', tag, '--clobber', ...upload], {
  cwd: root,
  stdio: 'inherit',
})
if (result.status !== 0) process.exit(result.status ?? 1)
console.log(`release-bins: uploaded ${upload.length} files to the release of ${tag}`)
