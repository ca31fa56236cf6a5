#!/usr/bin/env node
// The `keyfob` command. See `keyfob --help`.
import { run } from '../dist/main.js'

const code = await run(process.argv.slice(2))
process.exitCode = code
// A helper or socket left behind (a hung keychain call) must not keep a finished command alive.
setTimeout(() => process.exit(code), 100).unref()
