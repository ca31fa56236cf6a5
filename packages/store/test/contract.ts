/**
 * The TokenStore contract: every adapter passes the same suite. Imported by the memory/file suite
 * (Node, Deno, Bun) and by the keychain suite (Node, against a real gnome-keyring).
 */
import type { TokenKey, TokenRecord, TokenStore } from '@keyfob/core'
import { describe, expect, it } from 'vitest'

export const SECRET = 'rt-SENTINEL-7f3a9c-never-printed'

const alice: TokenKey = { issuer: 'https://idp.example', clientId: 'cli' }
const work: TokenKey = { ...alice, account: 'work' }
const other: TokenKey = { issuer: 'https://idp.example/other', clientId: 'cli' }

const record = (n: number, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  accessToken: `at-${n}`,
  tokenType: 'bearer',
  expiresAt: 1_700_000_000_000 + n,
  refreshToken: `${SECRET}-${n}`,
  scope: 'openid offline_access',
  updatedAt: 1_700_000_000_000 + n,
  ...extra,
})

/** A stored DPoP key (a P-256 JWK; its `d` is the sentinel, so no dump may show it). */
export const DPOP_KEY = {
  alg: 'ES256',
  jwk: {
    kty: 'EC',
    crv: 'P-256',
    x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
    y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    d: `dpop-${SECRET}`,
  },
} as const

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Takes `key`'s lock and keeps it until `release()`; resolves once the lock is really held, so a
 * second attempt cannot overtake the first on a slow machine.
 */
async function holdLock(
  store: TokenStore,
  key: TokenKey,
): Promise<{ held: Promise<void>; release: () => void }> {
  let release: () => void = () => {}
  let entered: () => void = () => {}
  const inside = new Promise<void>((resolve) => (entered = resolve))
  const held = store.lock(key, () => {
    entered()
    return new Promise<void>((resolve) => (release = resolve))
  })
  await inside
  return { held, release: () => release() }
}

/**
 * Registers the contract suite for one adapter.
 *
 * @param name - The adapter, for test names.
 * @param make - A fresh, empty store per test.
 * @param options - `timeoutMs` per test (the keychain is slower).
 */
export function tokenStoreContract(
  name: string,
  make: () => Promise<TokenStore> | TokenStore,
  options: { readonly timeoutMs?: number } = {},
): void {
  const t = options.timeoutMs ?? 10_000
  describe(`TokenStore contract: ${name}`, () => {
    it(
      'answers undefined for a key never stored, and an empty list',
      async () => {
        const store = await make()
        expect(await store.get(alice)).toBeUndefined()
        expect(await store.list()).toEqual([])
        expect(await store.delete(alice)).toBe(false)
      },
      t,
    )

    it(
      'keeps what was set, replaces it on set, and removes it on delete',
      async () => {
        const store = await make()
        await store.set(alice, record(1))
        expect(await store.get(alice)).toEqual(record(1))
        await store.set(alice, record(2))
        expect(await store.get(alice)).toEqual(record(2))
        expect(await store.delete(alice)).toBe(true)
        expect(await store.get(alice)).toBeUndefined()
        expect(await store.delete(alice)).toBe(false)
      },
      t,
    )

    it(
      "keeps a login's DPoP key with its tokens, through an update, and removes it with them",
      async () => {
        const store = await make()
        const withKey = record(1, { tokenType: 'dpop', dpopKey: DPOP_KEY })
        await store.set(alice, withKey)
        expect(await store.get(alice)).toEqual(withKey)
        // A refresh replaces the tokens and keeps the key.
        await store.update(alice, (current) => current && { ...current, accessToken: 'at-2', updatedAt: 2 })
        expect((await store.get(alice))?.dpopKey).toEqual(DPOP_KEY)
        expect(await store.delete(alice)).toBe(true)
        expect(await store.get(alice)).toBeUndefined()
        expect(await store.list()).toEqual([])
      },
      t,
    )

    it(
      'keeps accounts, issuers and clients apart',
      async () => {
        const store = await make()
        await store.set(alice, record(1))
        await store.set(work, record(2))
        await store.set(other, record(3))
        await store.set({ ...alice, clientId: 'cli2' }, record(4))
        expect(await store.get(alice)).toEqual(record(1))
        expect(await store.get(work)).toEqual(record(2))
        expect(await store.get(other)).toEqual(record(3))
        const listed = (await store.list()).map((e) => [
          e.key.issuer,
          e.key.clientId,
          e.key.account ?? '',
          e.record.accessToken,
        ])
        expect(listed.sort()).toEqual(
          [
            ['https://idp.example', 'cli', '', 'at-1'],
            ['https://idp.example', 'cli', 'work', 'at-2'],
            ['https://idp.example/other', 'cli', '', 'at-3'],
            ['https://idp.example', 'cli2', '', 'at-4'],
          ].sort(),
        )
        await store.delete(work)
        expect(await store.get(alice)).toEqual(record(1))
      },
      t,
    )

    it(
      'stores a long record intact (three JWTs)',
      async () => {
        const store = await make()
        const jwt = `eyJ${'a'.repeat(1500)}.${'b'.repeat(1500)}.${'c'.repeat(342)}`
        const big = record(5, { accessToken: jwt, idToken: jwt, refreshToken: `${SECRET}-${jwt}` })
        await store.set(alice, big)
        expect(await store.get(alice)).toEqual(big)
        await store.set(alice, record(6))
        expect(await store.get(alice)).toEqual(record(6))
      },
      t,
    )

    it(
      'does not let a caller change what is stored by mutating an object',
      async () => {
        const store = await make()
        const mine = { ...record(1) }
        await store.set(alice, mine)
        ;(mine as { accessToken: string }).accessToken = 'changed'
        const read = (await store.get(alice)) as { accessToken: string }
        expect(read.accessToken).toBe('at-1')
        read.accessToken = 'changed again'
        expect((await store.get(alice))?.accessToken).toBe('at-1')
      },
      t,
    )

    it(
      'lock gives one holder at a time per key, and lets other keys through',
      async () => {
        const store = await make()
        const events: string[] = []
        // a holds alice's lock until c (another key) is done: no timing, and if c waited for a the
        // two would deadlock and the test time out.
        let cDone: () => void = () => {}
        const cFinished = new Promise<void>((resolve) => (cDone = resolve))
        const holder = (label: string, key: TokenKey, work: () => Promise<unknown>) =>
          store.lock(key, async () => {
            events.push(`${label}+`)
            await work()
            events.push(`${label}-`)
            return label
          })
        const results = await Promise.all([
          holder('a', alice, () => cFinished),
          holder('b', alice, () => delay(10)),
          holder('c', other, async () => {}).then((label) => {
            cDone()
            return label
          }),
        ])
        expect(results).toEqual(['a', 'b', 'c'])
        // b starts only after a ends; c (another key) does not wait for a.
        expect(events.indexOf('b+')).toBeGreaterThan(events.indexOf('a-'))
        expect(events.indexOf('c-')).toBeLessThan(events.indexOf('a-'))
      },
      t,
    )

    it(
      'releases the lock when the holder throws, and set works inside it',
      async () => {
        const store = await make()
        await expect(
          store.lock(alice, async () => {
            throw new Error('boom')
          }),
        ).rejects.toThrow('boom')
        await store.lock(alice, async () => {
          await store.set(alice, record(7))
        })
        expect(await store.get(alice)).toEqual(record(7))
      },
      t,
    )

    it(
      'bounds the wait for a held lock with a typed timeout',
      async () => {
        const store = await make()
        const { held, release } = await holdLock(store, alice)
        const error = await store
          .lock(alice, async () => 'never', { timeoutMs: 100 })
          .then(
            () => undefined,
            (e: unknown) => e,
          )
        expect((error as { code?: string }).code).toBe('ERR_LOCK_TIMEOUT')
        release()
        await held
        expect(await store.lock(alice, async () => 'after')).toBe('after')
      },
      t,
    )

    it(
      'update reads, changes and writes one record; the same object writes nothing; undefined deletes',
      async () => {
        const store = await make()
        const seen: Array<TokenRecord | undefined> = []
        expect(
          await store.update(alice, (current) => {
            seen.push(current)
            return record(1)
          }),
        ).toEqual(record(1))
        expect(await store.get(alice)).toEqual(record(1))
        expect(await store.update(alice, (current) => current)).toEqual(record(1))
        expect(
          await store.update(alice, async (current) => {
            seen.push(current)
            await delay(1)
            return { ...(current as TokenRecord), scope: 'openid' }
          }),
        ).toEqual(record(1, { scope: 'openid' }))
        expect(await store.get(alice)).toEqual(record(1, { scope: 'openid' }))
        expect(seen).toEqual([undefined, record(1)])
        expect(await store.update(alice, () => undefined)).toBeUndefined()
        expect(await store.get(alice)).toBeUndefined()
        expect(await store.update(alice, () => undefined)).toBeUndefined()
        expect(await store.list()).toEqual([])
      },
      t,
    )

    it(
      'concurrent updates of one key lose nothing; a failing update writes nothing and frees the lock',
      async () => {
        const store = await make()
        await store.set(alice, record(0, { updatedAt: 0 }))
        const bump = () =>
          store.update(alice, async (current) => {
            await delay(1)
            return { ...(current as TokenRecord), updatedAt: (current?.updatedAt ?? 0) + 1 }
          })
        await Promise.all(Array.from({ length: 12 }, bump))
        expect((await store.get(alice))?.updatedAt).toBe(12)
        await expect(
          store.update(alice, () => {
            throw new Error('boom')
          }),
        ).rejects.toThrow('boom')
        expect((await store.get(alice))?.updatedAt).toBe(12)
        await bump()
        expect((await store.get(alice))?.updatedAt).toBe(13)
      },
      t,
    )

    it(
      'never puts a refresh token in an error',
      async () => {
        const store = await make()
        await store.set(alice, record(8))
        const { held, release } = await holdLock(store, alice)
        const error = await store.lock(alice, async () => 0, { timeoutMs: 30 }).catch((e: unknown) => e)
        release()
        await held
        const text = `${(error as Error).message} ${JSON.stringify((error as Error).cause ?? null)}`
        expect(text).not.toContain(SECRET)
      },
      t,
    )
  })
}
