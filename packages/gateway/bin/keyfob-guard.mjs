#!/usr/bin/env node
// The `keyfob-guard` gateway on Node. See `keyfob-guard --help`.
import { main } from '../dist/index.js'

// Exit explicitly once the server has stopped: a cluster worker's IPC channel would keep it alive.
process.exit(await main(process.argv.slice(2)))
