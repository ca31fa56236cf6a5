// Bundles the `keyfob` program (src/bin.ts) into dist/keyfob.mjs, the package's `bin`, with
// rolldown. Run by the package's `build` script after tsc.
//
// Why: unbundled, `keyfob token` resolved and compiled about 30 ES modules (the CLI, @keyfob/core,
// @keyfob/store) on every call, which made it twice as slow as a bare `node -e 0`. Bundled, the
// token path is the tiny entry, one chunk (`keyfob-main-*.mjs`: argument parsing, the token
// command, the stores) and a one-line facade. Everything else — the protocol code and
// oauth4webapi, prompts, QR codes, the mock IdP — stays in chunks that load only when a command
// needs them.
//
// The @keyfob packages the CLI uses are bundled from their sources (the `source` export condition),
// so the bundle matches the code it is built with. Every other package stays an import and must be
// a declared dependency of @keyfob/cli: the build fails otherwise, so the packed tarball never
// relies on a package that only resolves inside the monorepo.
import { chmodSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'rolldown'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const declared = new Set([
  ...Object.keys(manifest.dependencies ?? {}),
  ...Object.keys(manifest.optionalDependencies ?? {}),
])
/** Workspace packages compiled into the bundle. @keyfob/mock-idp stays a separate import. */
const BUNDLED = /^@keyfob\/(core|flows|store)(\/|$)/
/** The modules `keyfob token` runs: they and what they import share one chunk. */
const TOKEN_PATH = /[\\/]src[\\/](main|commands[\\/]token)\.ts$/

const packageName = (id) => id.split('/', id.startsWith('@') ? 2 : 1).join('/')
const undeclared = new Set()

// Chunks of an earlier build have other hashes: remove them, keep tsc's output.
for (const file of readdirSync(dist)) if (/^keyfob(-.*)?\.mjs$/.test(file)) rmSync(`${dist}${file}`)

await build({
  cwd: root,
  input: { keyfob: 'src/bin.ts' },
  platform: 'node',
  logLevel: 'warn',
  resolve: { conditionNames: ['source', 'import', 'node', 'default'] },
  external: (id) => {
    if (id.startsWith('node:')) return true
    if (id.startsWith('.') || id.startsWith('/') || id.startsWith('\0') || BUNDLED.test(id)) return false
    if (!declared.has(packageName(id))) undeclared.add(id)
    return true
  },
  output: {
    dir: dist,
    format: 'es',
    entryFileNames: '[name].mjs',
    chunkFileNames: 'keyfob-[name]-[hash].mjs',
    // Doc comments are for the sources; stack traces name the chunk and the function.
    comments: { legal: true, annotation: true, jsdoc: false },
    codeSplitting: { groups: [{ name: 'main', test: TOKEN_PATH }] },
  },
})

// npm makes a `bin` executable when it installs the tarball; a checkout's relinked bin needs it too.
chmodSync(`${dist}keyfob.mjs`, 0o755)

if (undeclared.size > 0) {
  console.error(
    `bundle: ${[...undeclared].join(', ')} imported by the bundle but not a dependency of ${manifest.name}; add it to package.json`,
  )
  process.exit(1)
}
