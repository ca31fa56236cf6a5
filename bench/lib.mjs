// What every benchmark here shares: peers measured in interleaved rounds in one process, and a
// report written to bench/results/<name>.json, so no two scripts count or record differently.
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Calls `fn` in batches of 20 for `ms` milliseconds; each answer must pass `check`. */
async function measure(fn, ms, check) {
  let count = 0
  const end = performance.now() + ms
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) {
      const answer = await fn()
      if (!check(answer)) throw new Error(`unexpected answer: ${String(answer).slice(0, 80)}`)
    }
    count += 20
  }
  return count
}

/**
 * Operations per second of each peer: a warm-up of every path (JIT, first requests), then
 * `rounds` slices of `durationS` in which the peers run in a rotated order, so drift and the
 * garbage of the peer before hit all alike.
 */
export async function opsPerSecond(peers, { durationS, rounds = 10, check }) {
  for (const fn of Object.values(peers)) await measure(fn, 300, check)
  const counts = Object.fromEntries(Object.keys(peers).map((k) => [k, 0]))
  const sliceMs = (durationS * 1000) / rounds
  const entries = Object.entries(peers)
  for (let round = 0; round < rounds; round++) {
    const order = [...entries.slice(round % entries.length), ...entries.slice(0, round % entries.length)]
    for (const [name, fn] of order) counts[name] += await measure(fn, sliceMs, check)
  }
  return Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, Math.round(n / durationS)]))
}

/** The median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/** Writes `bench/results/<name>.json` and returns its path. */
export function writeResult(name, report) {
  const dir = fileURLToPath(new URL('results/', import.meta.url))
  mkdirSync(dir, { recursive: true })
  const path = `${dir}${name}.json`
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`)
  return path
}
