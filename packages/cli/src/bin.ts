#!/usr/bin/env node
/**
 * The `keyfob` program: runs `run` (./main.ts) with the process's arguments and exits with its
 * code.
 *
 * The build bundles this file into `dist/keyfob.cjs`, which the package's `bin` requires (see
 * `scripts/bundle.mjs`). On Node ≥ 22.1 it first turns on Node's module compile cache, so the code
 * a command runs is compiled once per Node version, not on every call; then it loads the rest.
 * Deno and Bun run it from the sources: `deno run -A packages/cli/src/bin.ts token`.
 *
 * @module
 */

// Node 20 has no compile cache: there, not even `node:module` is loaded.
if (Number.parseInt(process.versions.node, 10) >= 22) {
  const module = process.getBuiltinModule?.('node:module') as { enableCompileCache?: () => unknown }
  module?.enableCompileCache?.()
}

// No top-level await: the bundle is CommonJS, where `import()` of a bundled module becomes `require`.
import('./main.ts')
  .then(({ run }) => run(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code
    // A helper or socket left behind (a hung keychain call) must not keep a finished command alive.
    setTimeout(() => process.exit(code), 100).unref()
  })
