/** A login is found where it lives: the file store, or the keychain the configuration records. */
import { emptyConfig, type TokenKey, type TokenLocation, type TokenStore } from '@keyfob/core'
import { describe, expect, it } from 'vitest'
import { locatedTokenStore, memoryTokenStore, StoreError, withTokenLocation } from '../src/index.ts'

const issuer = 'https://idp.example'
const inFile: TokenKey = { issuer, clientId: 'cli' }
const inKeychain: TokenKey = { issuer, clientId: 'cli', account: 'work' }
const record = (accessToken: string) => ({ accessToken, updatedAt: 1 })

/** A keychain that is not there (no Secret Service), counting how often it was touched. */
function missingKeychain(): TokenStore & { touched: number } {
  const fail = async (): Promise<never> => {
    store.touched += 1
    throw new StoreError('ERR_KEYCHAIN_UNAVAILABLE', 'no Secret Service on this session bus')
  }
  const store = {
    kind: 'keychain',
    touched: 0,
    get: fail,
    set: fail,
    delete: fail,
    list: fail,
    lock: fail,
    update: fail,
  }
  return store
}

describe('locatedTokenStore', () => {
  it('routes each key to the store its login lives in, and lists both', async () => {
    const file = memoryTokenStore()
    const keychain = memoryTokenStore()
    const locations: TokenLocation[] = [{ ...inKeychain, store: 'keychain' }]
    let opened = 0
    const tokens = locatedTokenStore({
      file,
      keychain: () => {
        opened += 1
        return keychain
      },
      locations: async () => locations,
    })
    await tokens.set(inFile, record('f'))
    await tokens.set(inKeychain, record('k'))
    expect((await file.get(inFile))?.accessToken).toBe('f')
    expect(await file.get(inKeychain)).toBeUndefined()
    expect((await keychain.get(inKeychain))?.accessToken).toBe('k')
    expect((await tokens.get(inKeychain))?.accessToken).toBe('k')
    await tokens.update(inKeychain, (current) => current && { ...current, accessToken: 'k2' })
    expect((await keychain.get(inKeychain))?.accessToken).toBe('k2')
    // A stray keychain entry that the configuration does not record is not listed.
    await keychain.set({ issuer, clientId: 'stray' }, record('s'))
    expect(
      (await tokens.list()).map((e) => [e.key.clientId, e.key.account ?? null, e.record.accessToken]),
    ).toEqual([
      ['cli', null, 'f'],
      ['cli', 'work', 'k2'],
    ])
    expect(await tokens.delete(inKeychain)).toBe(true)
    expect(opened).toBe(1)
  })

  it('never touches the keychain when no login lives there', async () => {
    const keychain = missingKeychain()
    const tokens = locatedTokenStore({
      file: memoryTokenStore(),
      keychain: () => keychain,
      locations: async () => [],
    })
    await tokens.set(inFile, record('f'))
    expect((await tokens.list()).length).toBe(1)
    expect(keychain.touched).toBe(0)
  })

  it('says that a known login lives in the unavailable keychain, instead of "log in again"', async () => {
    const tokens = locatedTokenStore({
      file: memoryTokenStore(),
      keychain: () => missingKeychain(),
      locations: async () => [{ ...inKeychain, store: 'keychain' }],
    })
    const error = await tokens.get(inKeychain).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StoreError)
    expect((error as StoreError).code).toBe('ERR_KEYCHAIN_UNAVAILABLE')
    expect((error as Error).message).toBe(
      'a login recorded as living in the keychain cannot be read: no Secret Service on this session bus',
    )
    expect(((await tokens.list().catch((e: unknown) => e)) as StoreError).code).toBe(
      'ERR_KEYCHAIN_UNAVAILABLE',
    )
  })

  it('withTokenLocation records and forgets one login, keeping the others', () => {
    const one = withTokenLocation(emptyConfig(), inKeychain, 'keychain')
    expect(one.tokenLocations).toEqual([{ ...inKeychain, store: 'keychain' }])
    const two = withTokenLocation(one, inFile, 'keychain')
    expect(two.tokenLocations).toHaveLength(2)
    expect(withTokenLocation(two, inFile, 'keychain').tokenLocations).toHaveLength(2)
    const back = withTokenLocation(withTokenLocation(two, inFile, 'file'), inKeychain, 'file')
    expect(back).toEqual(emptyConfig())
    const config = emptyConfig()
    expect(withTokenLocation(config, inFile, 'file')).toBe(config)
  })
})
