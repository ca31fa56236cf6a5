#!/usr/bin/env node
/**
 * The `keyfob` program: runs {@link run} with the process's arguments and exits with its code.
 *
 * The build bundles this file into `dist/keyfob.mjs`, the package's `bin` (see
 * `scripts/bundle.mjs`). It turns on Node's module compile cache (Node ≥ 22.1) before loading the
 * rest, so the code `keyfob token` runs is compiled once per version, not on every call. Deno and
 * Bun run it from the sources: `deno run -A packages/cli/src/bin.ts token`.
 *
 * @module
 */
import module from 'node:module'

// Absent on Node 20, Deno and Bun: then every start compiles, as before.
;(module as { enableCompileCache?: () => unknown }).enableCompileCache?.()

const { run } = await import('./main.ts')
const code = await run(process.argv.slice(2))
process.exitCode = code
// A helper or socket left behind (a hung keychain call) must not keep a finished command alive.
setTimeout(() => process.exit(code), 100).unref()
