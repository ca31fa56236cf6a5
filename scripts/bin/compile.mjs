/**
 * Keeps the executables from drifting from the npm packages: compiles the three keyfob programs
 * for one target with Bun (`bun build --compile`) from the same sources. Run by `scripts/build-bin.mjs` under Bun:
 *
 *   bun scripts/bin/compile.mjs '{"target":"linux-x64","bunTarget":"bun-linux-x64","outdir":"dist-bin/linux-x64"}'
 *
 * What differs from the npm build, and why:
 * - `KEYFOB_STANDALONE` is defined `true`: the keychain store then starts the program itself as
 *   its keyring helper (there is no `node -e` and no node_modules inside an executable).
 * - A source that reads its package's `package.json` at run time (for `--version`) gets the file's
 *   text compiled in: inside the executable there is no package folder to read.
 * - The bins' `../dist/index.js` imports read `../src/index.ts`: no `tsc` build is needed first.
 * - For a foreign target, the keyring's native addon package for that target (fetched by
 *   build-bin.mjs with `npm pack`) replaces the one installed for this machine.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const root = join(import.meta.dir, '..', '..')
/**
 * The job: `target` (linux-x64, …), `bunTarget` (bun-linux-x64, …), `outdir` (relative to the
 * repository), and optionally `keyring: { name, dir }`, a keyring addon package to compile in
 * instead of resolving one (its name and unpacked folder).
 */
const job = JSON.parse(process.argv[2] ?? '')
const exe = job.target.startsWith('windows') ? '.exe' : ''

/** The programs: executable name and entry module. */
const PROGRAMS = [
  { name: 'keyfob', entry: 'scripts/bin/keyfob.ts' },
  { name: 'keyfob-mock-idp', entry: 'packages/mock-idp/bin/mock-idp.mjs' },
  { name: 'keyfob-guard', entry: 'scripts/bin/keyfob-guard.ts' },
]

const PACKAGE_JSON_READ = /\b[\w$]+\(new URL\('\.\.\/package\.json', import\.meta\.url\)(?:, 'utf8')?\)/g

/**
 * `keyfob mock-idp` finds the demo configuration next to the installed @keyfob/mock-idp package;
 * in the executable the package is compiled in and its demo.json is embedded as a file instead.
 */
function embedDemo(source) {
  const demo = join(root, 'packages', 'mock-idp', 'examples', 'demo.json')
  const find = "createRequire(import.meta.url).resolve('@keyfob/mock-idp/package.json')"
  const join_ = "join(dirname(packageJson), 'examples', 'demo.json')"
  if (!source.includes(find) || !source.includes(join_))
    throw new Error(
      'packages/cli/src/commands/mock-idp.ts no longer finds demo.json the way compile.mjs rewrites',
    )
  return `import keyfobEmbeddedDemo from ${JSON.stringify(demo)} with { type: 'file' }\n${source
    .replace(find, "'(compiled in)'")
    .replace(join_, 'keyfobEmbeddedDemo')}`
}

/** @type {import('bun').BunPlugin} */
const standalone = {
  name: 'keyfob-standalone',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/dist\/index\.js$/ }, (args) =>
      /[\\/]packages[\\/][^\\/]+[\\/]bin[\\/]/.test(args.importer)
        ? { path: join(dirname(args.importer), '..', 'src', 'index.ts') }
        : undefined,
    )
    const { keyring } = job
    if (keyring !== undefined) {
      const escaped = keyring.name.replace(/[/\\^$*+?.()|[\]{}-]/g, '\\$&')
      build.onResolve({ filter: new RegExp(`^${escaped}(/package\\.json)?$`) }, (args) => {
        const manifest = join(keyring.dir, 'package.json')
        if (args.path.endsWith('/package.json')) return { path: manifest }
        const { main } = JSON.parse(readFileSync(manifest, 'utf8'))
        return { path: join(keyring.dir, main) }
      })
    }
    build.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/](src|bin)[\\/].*\.(ts|mjs)$/ }, (args) => {
      let source = readFileSync(args.path, 'utf8')
      const loader = args.path.endsWith('.ts') ? 'ts' : 'js'
      if (/[\\/]packages[\\/]cli[\\/]src[\\/]commands[\\/]mock-idp\.ts$/.test(args.path))
        source = embedDemo(source)
      if (!source.includes("new URL('../package.json', import.meta.url)")) return { contents: source, loader }
      const manifest = readFileSync(join(dirname(args.path), '..', 'package.json'), 'utf8')
      const contents = source.replace(PACKAGE_JSON_READ, JSON.stringify(manifest))
      if (contents.includes("new URL('../package.json', import.meta.url)"))
        throw new Error(`${args.path} reads ../package.json in a way compile.ts does not rewrite`)
      return { contents, loader }
    })
  },
}

for (const program of PROGRAMS) {
  const outfile = join(root, job.outdir, `${program.name}${exe}`)
  const result = await Bun.build({
    entrypoints: [join(root, program.entry)],
    compile: { target: job.bunTarget, outfile },
    format: 'esm',
    // Start-up: bytecode skips parsing, and splitting keeps what a command does not run (the
    // protocol code, the mock IdP, the keyring helper) out of what every call loads.
    bytecode: true,
    splitting: true,
    minify: true,
    conditions: ['source'],
    define: { KEYFOB_STANDALONE: 'true' },
    plugins: [standalone],
  })
  if (!result.success) {
    for (const log of result.logs) console.error(log)
    throw new Error(`bun build --compile of ${program.name} for ${job.target} failed`)
  }
  console.log(`${job.outdir}/${program.name}${exe}`)
}
