// Type-checks every TypeScript sample in the guides against the packages' sources, so a renamed
// export or a changed option breaks `npm test`, not the reader. Each ```ts block becomes a module
// under .samples/ and one tsc run checks them all; errors point at the Markdown line.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const docs = fileURLToPath(new URL('..', import.meta.url))
const root = join(docs, '..', '..')
const out = join(docs, '.samples')
const SKIP = new Set(['node_modules', 'api', '.vitepress', '.samples', 'test', 'scripts'])

function* markdown(dir) {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* markdown(path)
    else if (name.endsWith('.md')) yield path
  }
}

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
/** sample file name → where it came from */
const origin = new Map()
for (const file of markdown(docs)) {
  const lines = readFileSync(file, 'utf8').split('\n')
  let block
  lines.forEach((line, index) => {
    const fence = /^(\s*)```(\S*)/.exec(line)
    if (!block && fence) {
      const lang = fence[2].split(/[{[]/)[0]
      block = { lang, start: index + 2, lines: [] }
    } else if (block && /^\s*```\s*$/.test(line)) {
      if (block.lang === 'ts' || block.lang === 'typescript') {
        const name = `${relative(docs, file).replace(/[/\\.]/g, '_')}_L${block.start}.mts`
        writeFileSync(join(out, name), `${block.lines.join('\n')}\nexport {}\n`)
        origin.set(name, { file: relative(root, file), start: block.start })
      }
      block = undefined
    } else if (block) block.lines.push(line)
  })
}
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify(
    {
      extends: '../../../tsconfig.base.json',
      compilerOptions: {
        noEmit: true,
        declaration: false,
        declarationMap: false,
        isolatedDeclarations: false,
        sourceMap: false,
        types: ['node'],
        lib: ['ES2023', 'DOM', 'DOM.Iterable', 'ESNext.Disposable'],
        // Samples show usage, not library code: unused names are fine.
        noUnusedLocals: false,
      },
      include: ['*.mts'],
    },
    null,
    2,
  ),
)
if (origin.size === 0) {
  console.error('check-samples: no TypeScript samples found; the guides should have some')
  process.exit(1)
}
const tsc = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    join(out, 'tsconfig.json'),
    '--pretty',
    'false',
  ],
  { encoding: 'utf8' },
)
// sample.mts(12,5): error TS2305: … → guide/device.md:40:5 (sample at line 29): error TS2305: …
const mapped = `${tsc.stdout}${tsc.stderr}`.replace(
  /^(\S+\.mts)\((\d+),(\d+)\)/gm,
  (all, path, line, col) => {
    const from = origin.get(path.split(/[/\\]/).pop())
    return from ? `${from.file}:${from.start + Number(line) - 1}:${col}` : all
  },
)
if (tsc.status !== 0) {
  process.stderr.write(mapped)
  console.error(`check-samples: ${origin.size} samples, type errors above`)
  process.exit(1)
}
console.log(`check-samples: ${origin.size} TypeScript samples type-check against the packages`)
