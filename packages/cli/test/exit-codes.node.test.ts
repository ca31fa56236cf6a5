/**
 * Exit codes a script can trust: every "the provider is unavailable or broken right now" outcome
 * (a 5xx with or without an OAuth body, `temporarily_unavailable`, a dropped connection, a
 * malformed answer) is exit 5 at every endpoint the CLI talks to, so a script can tell "retry
 * later" (5) from "your login is bad" (3) and "your input is bad" (1, 2). A table of endpoint ×
 * fault, each a spawned `keyfob` against the mock IdP over loopback.
 */
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newHome, type Result, keyfob as spawnKeyfob } from './spawn.ts'

/** keyfob with the confidential client's secret in the environment, as a service would run it. */
const keyfob = (home: string, args: string[], env: Record<string, string> = {}): Promise<Result> =>
  spawnKeyfob(home, args, { KEYFOB_CLIENT_SECRET: 'pw-secret', ...env })

let server: MockIdpServer
let home: string

beforeAll(async () => {
  server = await serve({
    port: 0,
    lifetimes: { accessTokenS: 600 },
    users: [{ sub: 'alice', password: 'alice' }],
    clients: [
      { clientId: 'pw', clientSecret: 'pw-secret', grantTypes: ['password', 'refresh_token'] },
      { clientId: 'dev', grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] },
    ],
  })
  home = newHome('keyfob-exit-')
  await keyfob(home, ['add-oidc', server.issuer, '--provider-id', 'mock', '--client-id', 'pw'])
  const login = await keyfob(home, ['login', '--password', '--username', 'alice'], {
    KEYFOB_PASSWORD: 'alice',
  })
  expect(login.code).toBe(0)
})

afterAll(async () => {
  await server.close()
})

type Fault = Parameters<MockIdpServer['idp']['control']['faults']['inject']>[0]

/** What breaks: every rule applies to enough calls to outlast the retries. */
const FAULTS: Array<[string, Omit<Fault, 'endpoint'>]> = [
  ['a bare 503', { status: 503, times: 10 }],
  ['an HTML 500 page', { status: 500, body: '<h1>Internal Server Error</h1>', times: 10 }],
  ['a 502 with server_error', { status: 502, error: 'server_error', times: 10 }],
  ['temporarily_unavailable', { status: 400, error: 'temporarily_unavailable', times: 10 }],
  ['a dropped connection', { drop: true, times: 10 }],
  ['a malformed answer', { malformedJson: true, times: 10 }],
]

/** Where it breaks, and the command that gets there. */
const ENDPOINTS: Array<[Fault['endpoint'], string[]]> = [
  ['discovery', ['token', '--min-ttl', '1h']],
  ['token', ['token', '--min-ttl', '1h']],
  ['device_authorization', ['login', '--device', '--client-id', 'dev', '--timeout', '20s', '--no-qr']],
  ['userinfo', ['status', '--check']],
]

describe('exit 5 for a provider that is failing right now, at every endpoint', () => {
  for (const [endpoint, args] of ENDPOINTS) {
    for (const [name, fault] of FAULTS) {
      // temporarily_unavailable is a token-endpoint error code (RFC 6749 §5.2): not for userinfo.
      if (endpoint === 'userinfo' && name === 'temporarily_unavailable') continue
      it(`${endpoint}: ${name} → 5`, async () => {
        server.idp.control.faults.inject({ endpoint, ...fault } as Fault)
        try {
          const result = await keyfob(home, args)
          // The cause is named (status --check names it per login, on stdout).
          expect([result.code, result.stderr + result.stdout]).toEqual([
            5,
            expect.stringMatching(/\[ERR_[A-Z_]+\]/),
          ])
        } finally {
          server.idp.control.faults.clear()
        }
      }, 60_000)
    }
  }

  it('and the same login works again once the provider is back', async () => {
    expect((await keyfob(home, ['token', '--min-ttl', '1h'])).code).toBe(0)
    expect((await keyfob(home, ['status', '--check'])).code).toBe(0)
  }, 60_000)
})
