/** apiKeyAuth: key sources, rotation, ids, constant-time digests, startup errors. */
import { describe, expect, it } from 'vitest'
import { constantTimeEqual, hex, sha256 } from '../src/digest.ts'
import { apiKeyAuth, GuardError, type GuardErrorCode } from '../src/index.ts'
import { get, protectedApp, recorder } from './helpers.ts'

const KEY_A = 'key-a-0123456789abcdef-AAAA'
const KEY_B = 'key-b-0123456789abcdef-BBBB'

function startupError(fn: () => unknown): GuardError {
  try {
    fn()
  } catch (error) {
    if (error instanceof GuardError) return error
    throw error
  }
  throw new Error('expected a GuardError')
}

function expectCode(fn: () => unknown, code: GuardErrorCode, notInMessage: string[] = []): GuardError {
  const error = startupError(fn)
  expect(error.code).toBe(code)
  expect(error.name).toBe('GuardError')
  for (const secret of notInMessage) expect(error.message).not.toContain(secret)
  return error
}

describe('apiKeyAuth', () => {
  it('accepts any configured key, exposes a fingerprint id (never the key), and rejects others', async () => {
    const app = protectedApp(apiKeyAuth({ keys: [KEY_A, KEY_B] }))
    const a = await get(app, '/collections', { 'x-api-key': KEY_A })
    expect(a.status).toBe(200)
    const body = await a.json()
    expect(body.auth.scheme).toBe('apiKey')
    expect(body.auth.keyId).toBe(`sha256:${hex(await sha256(KEY_A)).slice(0, 12)}`)
    expect(JSON.stringify(body)).not.toContain(KEY_A)
    expect((await get(app, '/collections', { 'X-API-KEY': KEY_B })).status).toBe(200)
    expect((await get(app, '/collections', { 'x-api-key': `${KEY_A}x` })).status).toBe(401)
  })

  it('answers a missing and a wrong key with the same 401 body; only the event tells them apart', async () => {
    const log = recorder()
    const app = protectedApp(apiKeyAuth({ keys: { ci: KEY_A }, onEvent: log.onEvent }))
    const missing = await get(app, '/collections')
    const wrong = await get(app, '/collections', { 'x-api-key': 'not-the-key-at-all-0000' })
    const empty = await get(app, '/collections', { 'x-api-key': '' })
    for (const r of [missing, wrong, empty]) {
      expect(r.status).toBe(401)
      expect(r.headers.get('www-authenticate')).toBe('ApiKey header="X-API-KEY"')
      expect(await r.json()).toEqual({
        error: 'invalid_api_key',
        error_description: 'a valid API key is required in the X-API-KEY header',
      })
    }
    expect(log.events.map((e) => e.reason)).toEqual(['missing', 'invalid_api_key', 'malformed'])
    expect(JSON.stringify(log.events)).not.toContain('not-the-key-at-all')
  })

  it('never reads a key from the query string', async () => {
    const app = protectedApp(apiKeyAuth({ keys: [KEY_A] }))
    expect((await get(app, `/collections?api_key=${KEY_A}&x-api-key=${KEY_A}`)).status).toBe(401)
  })

  it('takes keys with ids and scopes, and rotates: old and new keys are both live', async () => {
    const app = protectedApp(
      apiKeyAuth({
        keys: [
          { id: 'partner-2025', key: KEY_A, scopes: ['read'] },
          { id: 'partner-2026', key: KEY_B, scopes: ['read', 'write'] },
        ],
      }),
    )
    const old = await (await get(app, '/', { 'x-api-key': KEY_A })).json()
    const next = await (await get(app, '/', { 'x-api-key': KEY_B })).json()
    expect(old.auth).toEqual({ scheme: 'apiKey', keyId: 'partner-2025', scopes: ['read'], claims: {} })
    expect(next.auth.keyId).toBe('partner-2026')
    expect(next.auth.scopes).toEqual(['read', 'write'])
  })

  it('accepts SHA-256 digests (hex or base64url) so plaintext keys stay out of configuration', async () => {
    const digest = await sha256(KEY_A)
    const b64 = btoa(String.fromCharCode(...(await sha256(KEY_B))))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
    const app = protectedApp(
      apiKeyAuth({
        keyHashes: [
          { id: 'a', sha256: hex(digest).toUpperCase() },
          { id: 'b', sha256: b64, scopes: ['read'] },
        ],
      }),
    )
    expect((await (await get(app, '/', { 'x-api-key': KEY_A })).json()).auth.keyId).toBe('a')
    expect((await (await get(app, '/', { 'x-api-key': KEY_B })).json()).auth.keyId).toBe('b')
    expect((await get(app, '/', { 'x-api-key': hex(digest) })).status).toBe(401)
    const record = protectedApp(apiKeyAuth({ keyHashes: { ops: hex(digest) } }))
    expect((await (await get(record, '/', { 'x-api-key': KEY_A })).json()).auth.keyId).toBe('ops')
  })

  it('reads every PREFIX_* environment variable (fastgeoapi style), ids from the names', async () => {
    const env = {
      PYGEOAPI_KEY_GLOBAL: KEY_A,
      PYGEOAPI_KEY_PARTNER: KEY_B,
      OTHER_SECRET: 'other-0123456789abcdef',
    }
    const app = protectedApp(apiKeyAuth({ envPrefix: 'PYGEOAPI_KEY_', env }))
    expect((await (await get(app, '/', { 'x-api-key': KEY_A })).json()).auth.keyId).toBe('GLOBAL')
    expect((await (await get(app, '/', { 'x-api-key': KEY_B })).json()).auth.keyId).toBe('PARTNER')
    expect((await get(app, '/', { 'x-api-key': env.OTHER_SECRET })).status).toBe(401)
  })

  it('reads the real process environment by default', async () => {
    const env = (globalThis as { process: { env: Record<string, string | undefined> } }).process.env
    env.KEYFOB_GUARD_TEST_KEY_MAIN = KEY_B
    try {
      const app = protectedApp(apiKeyAuth({ envPrefix: 'KEYFOB_GUARD_TEST_KEY_' }))
      expect((await (await get(app, '/', { 'x-api-key': KEY_B })).json()).auth.keyId).toBe('MAIN')
    } finally {
      delete env.KEYFOB_GUARD_TEST_KEY_MAIN
    }
  })

  it('uses a custom header, matched case-insensitively', async () => {
    const app = protectedApp(apiKeyAuth({ header: 'X-Partner-Key', keys: [KEY_A], realm: 'geo' }))
    expect((await get(app, '/', { 'x-partner-key': KEY_A })).status).toBe(200)
    const refused = await get(app, '/', { 'x-api-key': KEY_A })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe('ApiKey realm="geo", header="X-Partner-Key"')
  })

  it('refuses an oversized header value without hashing it', async () => {
    const log = recorder()
    const app = protectedApp(apiKeyAuth({ keys: [KEY_A], onEvent: log.onEvent }))
    expect((await get(app, '/', { 'x-api-key': 'k'.repeat(10_000) })).status).toBe(401)
    expect(log.events[0]?.reason).toBe('too_large')
  })

  it('compares digests without an early exit (correct for equal, different and different-length inputs)', () => {
    const a = Uint8Array.from([1, 2, 3, 4])
    expect(constantTimeEqual(a, Uint8Array.from([1, 2, 3, 4]))).toBe(true)
    expect(constantTimeEqual(a, Uint8Array.from([1, 2, 3, 5]))).toBe(false)
    expect(constantTimeEqual(a, Uint8Array.from([9, 2, 3, 4]))).toBe(false)
    expect(constantTimeEqual(a, Uint8Array.from([1, 2, 3]))).toBe(false)
    expect(constantTimeEqual(a, Uint8Array.from([1, 2, 3, 4, 0]))).toBe(false)
  })

  describe('startup errors', () => {
    it('an empty key is a startup error, and the message never shows a key', () => {
      expectCode(() => apiKeyAuth({ keys: [''] }), 'ERR_EMPTY_KEY')
      expectCode(() => apiKeyAuth({ keys: ['   '] }), 'ERR_EMPTY_KEY')
      expectCode(() => apiKeyAuth({ keys: { ci: '' } }), 'ERR_EMPTY_KEY')
      const short = expectCode(() => apiKeyAuth({ keys: ['tiny-secret'] }), 'ERR_EMPTY_KEY', ['tiny-secret'])
      expect(short.message).toContain('16 characters')
      const env = expectCode(
        () => apiKeyAuth({ envPrefix: 'PYGEOAPI_KEY_', env: { PYGEOAPI_KEY_GLOBAL: '' } }),
        'ERR_EMPTY_KEY',
      )
      expect(env.message).toContain('PYGEOAPI_KEY_GLOBAL')
      expectCode(
        () =>
          apiKeyAuth({
            keyHashes: { empty: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
          }),
        'ERR_EMPTY_KEY',
      )
      expect(() => apiKeyAuth({ keys: ['short-but-allowed'], minKeyLength: 4 })).not.toThrow()
    })

    it('no key source, an empty list, or no matching variable is a startup error', () => {
      expectCode(() => apiKeyAuth({}), 'ERR_MISSING_OPTION')
      expectCode(() => apiKeyAuth({ keys: [] }), 'ERR_MISSING_OPTION')
      expectCode(() => apiKeyAuth({ keyHashes: [] }), 'ERR_MISSING_OPTION')
      expectCode(() => apiKeyAuth({ envPrefix: 'NOPE_', env: {} }), 'ERR_MISSING_OPTION')
    })

    it('two key sources are a conflict; duplicate keys, digests and ids are refused', () => {
      expectCode(() => apiKeyAuth({ keys: [KEY_A], envPrefix: 'X_' }), 'ERR_CONFLICTING_OPTIONS')
      expectCode(() => apiKeyAuth({ keys: [KEY_A, KEY_A] }), 'ERR_DUPLICATE_KEY', [KEY_A])
      expectCode(
        () =>
          apiKeyAuth({
            keys: [
              { id: 'x', key: KEY_A },
              { id: 'x', key: KEY_B },
            ],
          }),
        'ERR_DUPLICATE_KEY',
      )
      const digest = 'a'.repeat(64)
      expectCode(
        () =>
          apiKeyAuth({
            keyHashes: [
              { id: 'a', sha256: digest },
              { id: 'b', sha256: digest },
            ],
          }),
        'ERR_DUPLICATE_KEY',
      )
    })

    it('malformed digests, header names and options are refused', () => {
      expectCode(() => apiKeyAuth({ keyHashes: [{ id: 'a', sha256: 'not-a-digest' }] }), 'ERR_INVALID_OPTION')
      expectCode(() => apiKeyAuth({ header: 'X API KEY', keys: [KEY_A] }), 'ERR_INVALID_OPTION')
      expectCode(() => apiKeyAuth({ header: 'Authorization', keys: [KEY_A] }), 'ERR_INVALID_OPTION')
      expectCode(() => apiKeyAuth({ keys: [KEY_A], minKeyLength: 0 }), 'ERR_INVALID_OPTION')
      expectCode(() => apiKeyAuth({ keys: [{ id: '', key: KEY_A }] }), 'ERR_INVALID_OPTION')
      expectCode(() => apiKeyAuth({ keys: [KEY_A], publicPaths: ['openapi'] }), 'ERR_INVALID_OPTION')
    })
  })
})
