/**
 * The entry of the standalone `keyfob-guard` executable: the gateway's Node bin
 * (packages/gateway/bin/keyfob-guard.mjs), whose `--workers` forks through `node:cluster`.
 *
 * Bun 1.4 starts a cluster worker of a compiled executable with the entry's path twice
 * (`[execPath, entry, entry, ...flags]`), and the gateway would read the copy as a stray argument
 * and exit 2; the copy is dropped here before the gateway reads its flags.
 *
 * @module
 */
import cluster from 'node:cluster'

if (cluster.isWorker && process.argv[2] === process.argv[1]) process.argv.splice(2, 1)
await import('../../packages/gateway/bin/keyfob-guard.mjs')
