#!/usr/bin/env -S deno run -A
// The `keyfob-guard` gateway on Deno or Bun: `deno run -A bin/keyfob-guard-web.mjs …` or
// `bun bin/keyfob-guard-web.mjs …`. Same flags as on Node, except --workers.
import { webMain } from '../dist/index.js'

process.exit(await webMain(process.argv.slice(2)))
