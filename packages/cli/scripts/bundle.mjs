// Bundles the `keyfob` program (src/bin.ts) into dist/keyfob.cjs, which the package's `bin`
// (bin/keyfob.cjs) requires, with rolldown. Run by the package's `build` script after tsc.
//
// Why: unbundled, `keyfob token` resolved and compiled about 30 ES modules (the CLI, @keyfob/core,
// @keyfob/store) on every call and took twice as long as a bare `node -e 0`. Bundled, the token
// path is the tiny entry, rolldown's runtime helpers and one chunk (`keyfob-main-*.cjs`: argument
// parsing, the token command, the stores). Everything else — the protocol code and oauth4webapi,
// prompts, QR codes, the mock IdP — stays in chunks that load only when a command needs them.
//
// Why CommonJS: the sources stay ES modules, but a CommonJS bin starts measurably faster on Node 20
// (the ES module loader is not set up, and built-in modules need no ES module wrappers); what the
// bundle must load as ES modules (`uqr`, `@keyfob/mock-idp`) it loads with `import()`, lazily.
//
// The @keyfob packages the CLI uses and oauth4webapi are compiled in, from their sources (the
// `source` export condition), with the license of each third-party package at the top of the
// chunk that holds it. Every other package stays an import and must be a declared dependency of
// @keyfob/cli: the build fails otherwise, so the packed tarball never relies on a package that
// only resolves inside the monorepo.
import { chmodSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'rolldown'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = join(root, 'dist')
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const declared = new Set([
  ...Object.keys(manifest.dependencies ?? {}),
  ...Object.keys(manifest.optionalDependencies ?? {}),
])
/** Compiled into the bundle. @keyfob/mock-idp and uqr stay separate, loaded by `import()`. */
const BUNDLED = /^(@keyfob\/(core|flows|store)|oauth4webapi)(\/|$)/
/** The modules `keyfob token` runs: they and what they import share one chunk. */
const TOKEN_PATH = /[\\/]src[\\/](main|commands[\\/]token)\.ts$/

const packageName = (id) => id.split('/', id.startsWith('@') ? 2 : 1).join('/')
const undeclared = new Set()

/** The license text of a third-party package, for the top of the chunk that holds its code. */
const require = createRequire(import.meta.url)
function licenseOf(name) {
  const dir = dirname(require.resolve(`${name}/package.json`, { paths: [root] }))
  const file = readdirSync(dir).find((f) => /^licen[cs]e(\.md|\.txt)?$/i.test(f))
  if (!file) throw new Error(`bundle: ${name} has no license file to ship with the bundle`)
  return readFileSync(join(dir, file), 'utf8').trim()
}

/**
 * `import.meta.resolve` has no CommonJS form: resolve the same specifier from the bundle's
 * location with `require.resolve` (the store finds the optional @napi-rs/keyring this way).
 */
const importMetaResolve = {
  name: 'keyfob:import-meta-resolve',
  transform(code) {
    if (!code.includes('import.meta.resolve(')) return null
    // Same length and lines appended at the end: the module's source map stays right.
    const resolved = `${code.replaceAll('import.meta.resolve(', 'import_meta_resolve(')}
function import_meta_resolve(specifier) {
  return require('node:url').pathToFileURL(require.resolve(specifier)).href
}
`
    return { code: resolved, map: null }
  },
}

/**
 * Built-in modules the token path imports but only uses when it writes: each named function is
 * a wrapper that loads the module on its first call. `node:crypto` alone loads some fifteen
 * internal modules, and `keyfob token` with a cached token never hashes or draws random bytes. A
 * source that imports another name from these modules fails the build (add the name here).
 */
const LAZY_BUILTINS = { 'node:crypto': ['createHash', 'randomBytes'] }
const lazyBuiltins = {
  name: 'keyfob:lazy-builtins',
  resolveId(id) {
    return id in LAZY_BUILTINS ? `\0lazy:${id}` : null
  },
  load(id) {
    if (!id.startsWith('\0lazy:')) return null
    const builtin = id.slice('\0lazy:'.length)
    return [
      `let loaded`,
      `const load = () => (loaded ??= process.getBuiltinModule(${JSON.stringify(builtin)}))`,
      ...LAZY_BUILTINS[builtin].map((name) => `export const ${name} = (...args) => load().${name}(...args)`),
    ].join('\n')
  },
}

// Chunks of an earlier build have other hashes: remove them, keep tsc's output.
for (const file of readdirSync(dist))
  if (/^keyfob(-.*)?\.[cm]?js(\.map)?$/.test(file)) rmSync(join(dist, file))

await build({
  cwd: root,
  input: { keyfob: 'src/bin.ts' },
  platform: 'node',
  logLevel: 'warn',
  plugins: [importMetaResolve, lazyBuiltins],
  resolve: { conditionNames: ['source', 'import', 'node', 'default'] },
  external: (id) => {
    if (id in LAZY_BUILTINS) return false
    if (id.startsWith('node:')) return true
    if (id.startsWith('.') || id.startsWith('/') || id.startsWith('\0') || BUNDLED.test(id)) return false
    if (!declared.has(packageName(id))) undeclared.add(id)
    return true
  },
  output: {
    dir: dist,
    format: 'cjs',
    entryFileNames: '[name].cjs',
    chunkFileNames: 'keyfob-[name]-[hash].cjs',
    // Less to parse on every start: compiling the token chunk took about 5.9 ms unminified, 4.4 ms
    // compressed and 2.7 ms with short local names (measured with vm.compileFunction, Node 20).
    // Function and class names stay (private members are shortened), so `--debug` stack traces
    // name them; the source maps lead back to src/ under `node --enable-source-maps`.
    minify: {
      compress: false,
      mangle: { toplevel: true, keepNames: true },
      codegen: { removeWhitespace: true },
    },
    sourcemap: true,
    comments: { legal: true, annotation: false, jsdoc: false },
    codeSplitting: { groups: [{ name: 'main', test: TOKEN_PATH }] },
    banner: (chunk) => {
      const packages = new Set(
        chunk.moduleIds
          .map((id) => /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(id)?.[1]?.replace('\\', '/'))
          .filter((name) => name !== undefined),
      )
      const notices = [...packages].map((name) => `/*! ${name}\n\n${licenseOf(name)}\n*/`)
      return notices.join('\n')
    },
  },
})

// The entry runs on its own too (`./dist/keyfob.cjs token`), like the bin that requires it.
chmodSync(join(dist, 'keyfob.cjs'), 0o755)

if (undeclared.size > 0) {
  console.error(
    `bundle: ${[...undeclared].join(', ')} imported by the bundle but not a dependency of ${manifest.name}; add it to package.json`,
  )
  process.exit(1)
}
