/**
 * One refresh among many processes: 8 processes share a file store and all find the access token
 * expired at once; the store's per-key lock lets one refresh, and the others read its result.
 * Real processes, real HTTP over loopback, the built packages.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { serve } from '@keyfob/mock-idp'
import { fileTokenStore } from '@keyfob/store'
import { describe, expect, it } from 'vitest'
import { passwordLogin } from '../src/index.ts'

const run = promisify(execFile)
const child = join(import.meta.dirname, 'fixtures', 'session-token.mjs')

describe('Session across processes', () => {
  it('8 processes, one expired token: one refresh in the journal, everyone gets the new token', async () => {
    await using server = await serve({
      port: 0,
      clients: [{ clientId: 'app', clientSecret: 'app-secret', grantTypes: ['password', 'refresh_token'] }],
    })
    const dir = mkdtempSync(join(tmpdir(), 'keyfob-mp-'))
    const store = fileTokenStore({ dir })
    const first = await passwordLogin({
      issuer: server.issuer,
      client: { clientId: 'app', clientSecret: 'app-secret' },
      username: 'alice',
      password: 'alice',
      scope: 'openid offline_access',
    })
    // Stored as already expired.
    await store.set(
      { issuer: server.issuer, clientId: 'app' },
      { ...first.record, expiresAt: Date.now() - 1 },
    )
    server.idp.control.journal.clear()
    const startAt = Date.now() + 1_500
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        run(process.execPath, [child, dir, server.issuer, String(startAt)], { timeout: 60_000 }),
      ),
    )
    const tokens = results.map((r) => r.stdout)
    expect(new Set(tokens).size).toBe(1)
    expect(tokens[0]).not.toBe(first.accessToken)
    expect(server.idp.control.journal.entries({ grantType: 'refresh_token' }).map((e) => e.status)).toEqual([
      200,
    ])
    // The rotated refresh token is the one on disk.
    const stored = await store.get({ issuer: server.issuer, clientId: 'app' })
    expect(stored?.accessToken).toBe(tokens[0])
    expect(stored?.refreshToken).not.toBe(first.refreshToken)
  }, 90_000)
})
