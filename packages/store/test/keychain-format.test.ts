/**
 * The keychain store's entry format, against an in-memory keyring (the `module` option): how a
 * value is split into generations, what a reader does with entries a writer or a dead process
 * left, and how a record in the wrong shape is skipped. The real Secret Service is exercised in
 * keychain.node.test.ts. Runs on Node, Deno and Bun.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TokenKey } from '@keyfob/core'
import { describe, expect, it } from 'vitest'
import { type KeyringModule, keychainTokenStore, type StoreWarning } from '../src/index.ts'
import { DPOP_KEY, tokenStoreContract } from './contract.ts'

/** A keyring in a Map, keyed by `service/account`. */
function fakeKeyring(): { module: KeyringModule; entries: Map<string, string>; failGets: { count: number } } {
  const entries = new Map<string, string>()
  const failGets = { count: 0 }
  class AsyncEntry {
    readonly #id: string
    constructor(service: string, account: string) {
      this.#id = `${service}/${account}`
    }
    async setPassword(password: string) {
      entries.set(this.#id, password)
    }
    async getPassword() {
      if (failGets.count > 0) {
        failGets.count--
        throw new Error('org.freedesktop.Secret.Error.NoSuchObject')
      }
      return entries.get(this.#id) ?? null
    }
    async deleteCredential() {
      return entries.delete(this.#id)
    }
  }
  return { module: { AsyncEntry }, entries, failGets }
}

const key: TokenKey = { issuer: 'https://idp.example', clientId: 'cli' }
const account = `${createHash('sha256').update('https://idp.example\u001fcli\u001f').digest('hex').slice(0, 16)}:cli@https://idp.example`
const lockDir = () => mkdtempSync(join(tmpdir(), 'keyfob-keychain-format-'))

function store(keyring: ReturnType<typeof fakeKeyring>, warnings: StoreWarning[] = []) {
  return keychainTokenStore({
    module: keyring.module,
    lockDir: lockDir(),
    chunkSize: 20,
    onWarning: (w) => warnings.push(w),
  })
}

tokenStoreContract('keychain (in-memory keyring)', () =>
  keychainTokenStore({ module: fakeKeyring().module, lockDir: lockDir() }),
)

describe('keychain entry format', () => {
  it('writes each generation under fresh names, moves the head last and removes the old generation', async () => {
    const keyring = fakeKeyring()
    const s = store(keyring)
    await s.set(key, { refreshToken: 'r'.repeat(40), updatedAt: 1 })
    const head1 = JSON.parse(keyring.entries.get(`keyfob/${account}`) as string)
    expect(head1).toMatchObject({ v: 2, g: 1 })
    expect(keyring.entries.has(`keyfob/${account}/g1/part1`)).toBe(true)
    await s.set(key, { updatedAt: 2 })
    expect(JSON.parse(keyring.entries.get(`keyfob/${account}`) as string)).toMatchObject({ v: 2, g: 2 })
    expect([...keyring.entries.keys()].filter((k) => k.includes(`${account}/g1/`))).toEqual([])
    expect(await s.get(key)).toEqual({ updatedAt: 2 })
  })

  it('reads the format-1 entries of earlier versions, and replaces them on the next write', async () => {
    const keyring = fakeKeyring()
    const value = Buffer.from(
      JSON.stringify({ key, record: { refreshToken: 'r'.repeat(30), updatedAt: 1 } }),
    ).toString('base64')
    const chunks = value.match(/.{1,20}/g) as string[]
    keyring.entries.set(`keyfob/${account}`, JSON.stringify({ v: 1, parts: chunks.length, data: chunks[0] }))
    for (const [i, chunk] of chunks.entries())
      if (i > 0) keyring.entries.set(`keyfob/${account}/part${i}`, chunk)
    const s = store(keyring)
    expect(await s.get(key)).toEqual({ refreshToken: 'r'.repeat(30), updatedAt: 1 })
    await s.set(key, { updatedAt: 2 })
    expect([...keyring.entries.keys()].filter((k) => /\/part\d+$/.test(k) && !k.includes('/g'))).toEqual([])
    expect(await s.get(key)).toEqual({ updatedAt: 2 })
  })

  it('parts that do not match their head are ERR_CORRUPT_ENTRY, never a SyntaxError or a mixed record', async () => {
    const keyring = fakeKeyring()
    const s = store(keyring)
    await s.set(key, { refreshToken: 'r'.repeat(60), updatedAt: 1 })
    keyring.entries.set(`keyfob/${account}/g1/part1`, 'AAAAAAAAAAAAAAAAAAAA')
    const error = await s.get(key).catch((e: unknown) => e)
    expect((error as { code?: string }).code).toBe('ERR_CORRUPT_ENTRY')
    expect((error as Error).message).toContain('token-clear')
    keyring.entries.set(`keyfob/${account}`, '{"v":2,')
    expect(((await s.get(key).catch((e: unknown) => e)) as { code?: string }).code).toBe('ERR_CORRUPT_ENTRY')
    // A broken entry can still be replaced and deleted.
    await s.set(key, { updatedAt: 3 })
    expect(await s.get(key)).toEqual({ updatedAt: 3 })
    expect(await s.delete(key)).toBe(true)
    expect([...keyring.entries.keys()].filter((k) => k.includes(account))).toEqual([])
  })

  it('a writer that died after writing its parts leaves nothing the next write does not remove', async () => {
    const keyring = fakeKeyring()
    const s = store(keyring)
    await s.set(key, { updatedAt: 1 })
    // The dead writer's generation 2: more parts than the next value needs.
    for (let i = 1; i <= 6; i++) keyring.entries.set(`keyfob/${account}/g2/part${i}`, 'stale-secret-part')
    expect(await s.get(key)).toEqual({ updatedAt: 1 })
    await s.set(key, { refreshToken: 'r'.repeat(30), updatedAt: 2 })
    expect([...keyring.entries.values()].filter((v) => v === 'stale-secret-part')).toEqual([])
    expect(await s.get(key)).toEqual({ refreshToken: 'r'.repeat(30), updatedAt: 2 })
    // One that died after moving the head (to generation 3) but before deleting generation 2.
    await s.set(key, { refreshToken: 'r'.repeat(30), updatedAt: 3 })
    for (let i = 1; i <= 3; i++) keyring.entries.set(`keyfob/${account}/g2/part${i}`, 'stale-secret-part')
    await s.set(key, { updatedAt: 4 })
    const parts = [...keyring.entries.keys()].filter((k) => k.startsWith(`keyfob/${account}/`))
    expect(parts.length).toBeGreaterThan(0)
    expect(parts.filter((k) => !k.includes('/g4/'))).toEqual([])
    expect(await s.get(key)).toEqual({ updatedAt: 4 })
  })

  it('a read that fails while a writer deletes what it reads is retried; a keychain that keeps failing is reported', async () => {
    const keyring = fakeKeyring()
    const s = store(keyring)
    await s.set(key, { refreshToken: 'r'.repeat(60), updatedAt: 1 })
    keyring.failGets.count = 2
    expect(await s.get(key)).toEqual({ refreshToken: 'r'.repeat(60), updatedAt: 1 })
    keyring.failGets.count = 100
    const error = await s.get(key).catch((e: unknown) => e)
    expect((error as { code?: string }).code).toBe('ERR_KEYCHAIN_UNAVAILABLE')
  })

  it('keeps a DPoP key inside the secret, never in the index, and removes it with the login', async () => {
    const keyring = fakeKeyring()
    const s = keychainTokenStore({ module: keyring.module, lockDir: lockDir() })
    await s.set(key, { refreshToken: 'rt', dpopKey: DPOP_KEY, updatedAt: 1 })
    // Values are base64 of the UTF-8 JSON, in parts after a JSON head.
    const decoded = (prefix: string) =>
      [...keyring.entries]
        .filter(([name]) => name.startsWith(`keyfob/${prefix}`))
        .map(([, value]) => {
          const head = JSON.parse(value.startsWith('{') ? value : '{}') as { data?: string }
          return Buffer.from(head.data ?? value, 'base64').toString('utf8')
        })
        .join('')
    expect(decoded(account).length).toBeGreaterThan(0)
    expect(decoded('keyfob-index')).toContain('"clientId":"cli"')
    expect(decoded('keyfob-index')).not.toContain('dpop')
    expect((await s.get(key))?.dpopKey).toEqual(DPOP_KEY)
    await s.delete(key)
    expect(decoded(account)).toBe('')
  })

  it('a broken index is reported and read as empty; the next write starts a new one', async () => {
    const keyring = fakeKeyring()
    const warnings: StoreWarning[] = []
    const s = store(keyring, warnings)
    await s.set(key, { updatedAt: 1 })
    keyring.entries.set('keyfob/keyfob-index', '{"v":2,')
    expect(await s.list()).toEqual([])
    expect(warnings.map((w) => w.field)).toEqual(['index'])
    expect(await s.get(key)).toEqual({ updatedAt: 1 })
    await s.set({ ...key, account: 'b' }, { updatedAt: 2 })
    expect((await s.list()).map((e) => e.key.account)).toEqual(['b'])
  })

  it('a record with a wrong field type is skipped with a warning naming the service, key and field', async () => {
    const keyring = fakeKeyring()
    const warnings: StoreWarning[] = []
    const s = store(keyring, warnings)
    await s.set(key, { expiresAt: 'tomorrow', updatedAt: 1 } as never)
    expect(await s.get(key)).toBeUndefined()
    expect(await s.list()).toEqual([])
    expect(warnings).toHaveLength(1) // once, not once per read
    expect(warnings[0]).toMatchObject({ code: 'WARN_INVALID_RECORD', key, field: 'record.expiresAt' })
    expect(warnings[0]?.message).toContain('keychain service keyfob')
    expect(warnings[0]?.message).toContain('cli@https://idp.example')
    expect(warnings[0]?.message).not.toContain('tomorrow')
  })
})
