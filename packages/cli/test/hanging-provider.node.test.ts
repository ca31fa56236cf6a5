/**
 * The spawned `keyfob` against a provider that accepts connections and never answers: every
 * command must end with `ERR_TIMEOUT` and exit 5 ("try again later"), never hang and never exit 0.
 * Node 20 lost such timeouts after a garbage collection (nodejs/node#57736); the CLI always passes
 * a signal, which is what made it lose them.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileConfigStore, fileTokenStore } from '@keyfob/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const bin = join(import.meta.dirname, '..', 'bin', 'keyfob.mjs')

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

function keyfob(home: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      // --expose-gc + a GC before the requests: the conditions under which Node 20 lost timeouts.
      [
        '--expose-gc',
        '-e',
        `globalThis.gc(); setInterval(() => globalThis.gc(), 200).unref(); process.argv.splice(1, 0, ${JSON.stringify(bin)}); import(${JSON.stringify(bin)})`,
        ...args,
      ],
      {
        env: {
          PATH: process.env.PATH ?? '',
          KEYFOB_CONFIG_DIR: join(home, 'config'),
          KEYFOB_DATA_DIR: join(home, 'data'),
          NO_COLOR: '1',
        },
        // A bound well above the 30 s request timeout: a hang fails the test instead of the run.
        timeout: 50_000,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    )
  })
}

let server: Server
let issuer = ''
/** Which endpoints answer; the others hang. */
const answering = new Set<string>()
const hung = new Set<ServerResponse>()

beforeAll(async () => {
  server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', issuer).pathname
    if (path === '/.well-known/openid-configuration') {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(
        JSON.stringify({
          issuer,
          token_endpoint: `${issuer}/token`,
          device_authorization_endpoint: `${issuer}/device`,
        }),
      )
      return
    }
    if (path === '/device' && answering.has('device')) {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(
        JSON.stringify({
          device_code: 'dc',
          user_code: 'ABCD-EFGH',
          verification_uri: `${issuer}/verify`,
          expires_in: 600,
          interval: 1,
        }),
      )
      return
    }
    hung.add(response) // never answered
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})

afterAll(async () => {
  for (const response of hung) response.destroy()
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

async function homeWithProvider(): Promise<string> {
  const home = mkdtempSync(join(tmpdir(), 'keyfob-hang-'))
  await fileConfigStore({ dir: join(home, 'config') }).update(() => ({
    version: 1,
    providers: { hang: { issuer, client: { clientId: 'cli' } } },
    apis: {},
  }))
  return home
}

describe('a provider that never answers', () => {
  it('login --timeout 2s ends at its deadline when the device authorization request hangs', async () => {
    answering.clear()
    const result = await keyfob(await homeWithProvider(), ['login', '--timeout', '2s', '--no-qr'])
    expect(result.stderr).toContain('[ERR_TIMEOUT]')
    expect(result.code).toBe(5)
  }, 60_000)

  it('login --timeout 3s ends at its deadline when the polls hang', async () => {
    answering.clear()
    answering.add('device')
    const result = await keyfob(await homeWithProvider(), ['login', '--timeout', '3s', '--no-qr'])
    expect(result.stderr).toContain('ABCD-EFGH')
    expect(result.stderr).toContain('[ERR_TIMEOUT]')
    expect(result.code).toBe(5)
  }, 60_000)

  it('token with an expired access token times out the refresh after 30 s with exit 5', async () => {
    answering.clear()
    const home = await homeWithProvider()
    const store = fileTokenStore({ dir: join(home, 'data') })
    await store.set(
      { issuer, clientId: 'cli' },
      { accessToken: 'old', expiresAt: Date.now() - 1000, refreshToken: 'rt', updatedAt: Date.now() },
    )
    const result = await keyfob(home, ['token'])
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('timed out')
    expect(result.stderr).toContain('[ERR_TIMEOUT]')
    expect(result.code).toBe(5)
  }, 60_000)
})
