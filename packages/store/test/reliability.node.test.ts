/**
 * The file store under real processes: concurrent writers, writers killed mid-write, locks left
 * by killed processes. Children run the built store (`dist/`, built by the global setup).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fileTokenStore } from '../src/index.ts'

const worker = join(import.meta.dirname, 'fixtures', 'worker.mjs')
const tempDir = () => mkdtempSync(join(tmpdir(), 'keyfob-reliability-'))
const key = { issuer: 'https://idp.example', clientId: 'shared' }

function start(...args: string[]): ChildProcess & { lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let stderr = ''
  child.stdout
    ?.setEncoding('utf8')
    .on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      if (code !== 0 && code !== null) console.error(stderr)
      resolve(code)
    }),
  )
  return Object.assign(child, { lines, exited })
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('file store across processes', () => {
  it('16 processes × 50 read-modify-write updates: all 800 entries are there', async () => {
    const dir = tempDir()
    const children = Array.from({ length: 16 }, (_, id) => start('rmw', dir, String(id), '50'))
    expect(await Promise.all(children.map((c) => c.exited))).toEqual(Array(16).fill(0))
    const entries = await fileTokenStore({ dir }).list()
    expect(entries).toHaveLength(800)
    const ids = new Set(entries.map((e) => `${e.key.clientId}/${e.key.account}`))
    expect(ids.size).toBe(800)
    for (const { key, record } of entries)
      expect(record.refreshToken).toBe(`rt-${key.clientId.slice(7)}-${key.account}`)
  }, 120_000)

  it('16 processes × 50 TokenStore.update increments of one record: none is lost', async () => {
    const dir = tempDir()
    const children = Array.from({ length: 16 }, () => start('update', dir, '50'))
    expect(await Promise.all(children.map((c) => c.exited))).toEqual(Array(16).fill(0))
    const entries = await fileTokenStore({ dir }).list()
    expect(entries).toHaveLength(1)
    expect(entries[0]?.record.updatedAt).toBe(800)
  }, 120_000)

  it('a writer killed with SIGKILL 50 times: the file always parses, holding the old or the new value', async () => {
    const dir = tempDir()
    const store = fileTokenStore({ dir })
    const path = store.path
    let last = 0
    for (let round = 0; round < 50; round++) {
      const child = start('loop', dir)
      // Let it write a few times (a recovered stale lock from the previous round included).
      await until(() => child.lines.length >= 1 + (round % 4), 'the writer to commit')
      child.kill('SIGKILL')
      await child.exited
      const committed = Number(child.lines.at(-1))
      const file = JSON.parse(readFileSync(path, 'utf8')) as {
        tokens: Array<{ record: { updatedAt: number } }>
      }
      expect(file.tokens).toHaveLength(1)
      const value = file.tokens[0]?.record.updatedAt as number
      // The last value it reported, or the one it was writing when it died.
      expect([committed, committed + 1]).toContain(value)
      last = value
    }
    expect(last).toBeGreaterThan(0)
    // A killed writer may leave its temp file (a full copy, secrets included) or a lock draft, but
    // each next writer removes them: at most the last round's are left.
    const leftovers = () => readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.owner'))
    expect(leftovers().length).toBeLessThanOrEqual(2)
    // And a delete (what logout and token-clear do) removes the rest.
    expect(await store.delete(key)).toBe(true)
    expect(leftovers()).toEqual([])
  }, 120_000)

  it('a lock held by a live process is waited for, then times out; once its owner is killed it is taken over', async () => {
    const dir = tempDir()
    const holder = start('hold', dir)
    await until(() => holder.lines.includes('locked'), 'the holder to lock')
    const impatient = start('take', dir, '300')
    await impatient.exited
    expect(impatient.lines).toEqual(['ERR_LOCK_TIMEOUT'])
    const patient = start('take', dir, '20000')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(patient.lines).toEqual([]) // still waiting on the live holder
    holder.kill('SIGKILL')
    await holder.exited
    await patient.exited
    expect(patient.lines).toEqual(['took']) // the dead owner's lock was recovered
  }, 60_000)
})
