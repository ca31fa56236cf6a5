// Keeps each package's jsr.json in step with its package.json (name, version, export keys), so
// npm and JSR never publish different versions or entry points of the same package.
//
//   node scripts/sync-jsr.mjs          copy versions into jsr.json (after `changeset version`)
//   node scripts/sync-jsr.mjs --check  fail on any drift
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const checkOnly = process.argv.includes('--check')
const problems = []

for (const dir of readdirSync(join(root, 'packages'))) {
  const pkgPath = join(root, 'packages', dir, 'package.json')
  if (!existsSync(pkgPath)) continue
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'))
  if (pkg.private) continue
  const jsrPath = join(root, 'packages', dir, 'jsr.json')
  if (!existsSync(jsrPath)) {
    problems.push(`packages/${dir}: no jsr.json (every published package needs one)`)
    continue
  }
  const jsr = JSON.parse(readFileSync(jsrPath, 'utf8'))
  if (jsr.name !== pkg.name)
    problems.push(`packages/${dir}: jsr.json name ${jsr.name} differs from package.json name ${pkg.name}`)
  const npmKeys = Object.keys(pkg.exports ?? {})
    .filter((k) => k !== './package.json')
    .sort()
  const jsrKeys = Object.keys(
    typeof jsr.exports === 'string' ? { '.': jsr.exports } : (jsr.exports ?? {}),
  ).sort()
  if (npmKeys.join() !== jsrKeys.join()) {
    problems.push(
      `packages/${dir}: export keys differ: package.json [${npmKeys.join(', ')}] vs jsr.json [${jsrKeys.join(', ')}]`,
    )
  }
  for (const [key, target] of Object.entries(
    typeof jsr.exports === 'string' ? { '.': jsr.exports } : jsr.exports,
  )) {
    if (!existsSync(join(root, 'packages', dir, target)))
      problems.push(`packages/${dir}: jsr.json export ${key} points at missing ${target}`)
  }
  if (jsr.version !== pkg.version) {
    if (checkOnly) {
      problems.push(
        `packages/${dir}: jsr.json version ${jsr.version} differs from package.json ${pkg.version}; run npm run version`,
      )
    } else {
      jsr.version = pkg.version
      writeFileSync(jsrPath, `${JSON.stringify(jsr, null, 2)}\n`)
      process.stdout.write(`packages/${dir}: jsr.json version set to ${pkg.version}\n`)
    }
  }
}

if (problems.length > 0) {
  for (const p of problems) process.stderr.write(`${p}\n`)
  process.exit(1)
}
if (checkOnly) process.stdout.write('package.json and jsr.json agree for every package\n')
