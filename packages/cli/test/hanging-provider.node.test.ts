/**
 * The spawned `keyfob` against a provider that accepts connections and never answers: every
 * command must end with `ERR_TIMEOUT` and exit 5 ("try again later"), never hang and never exit 0.
 * Node 20 lost such timeouts after a garbage collection (nodejs/node#57736); the CLI always passes
 * a signal, which is what made it lose them.
 */
import { execFile, spawn } from 'node:child_process'
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
/** The paths of the requests left hanging, in order. */
const hungPaths: string[] = []

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
    hungPaths.push(path)
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

/** A home whose login's access token has expired and whose refresh token the provider would take. */
async function homeWithExpiredLogin(): Promise<string> {
  const home = await homeWithProvider()
  await fileTokenStore({ dir: join(home, 'data') }).set(
    { issuer, clientId: 'cli' },
    { accessToken: 'old', expiresAt: Date.now() - 1000, refreshToken: 'rt', updatedAt: Date.now() },
  )
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

  // `--timeout 2s` instead of waiting out the 30 s default: the message names the limit that
  // fired, so this proves the flag sets the refresh request's timer; the next test proves that
  // without the flag that timer is 30 s.
  it('token with an expired access token times out the refresh at --timeout with exit 5', async () => {
    answering.clear()
    const home = await homeWithExpiredLogin()
    const result = await keyfob(home, ['token', '--timeout', '2s'])
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('timed out (no answer within 2000 ms)')
    expect(result.stderr).toContain('[ERR_TIMEOUT]')
    expect(result.code).toBe(5)
  }, 60_000)

  it('token without --timeout waits on the refresh with the 30 s default', async () => {
    answering.clear()
    const home = await homeWithExpiredLogin()
    const before = hungPaths.filter((p) => p === '/token').length
    const child = spawn(process.execPath, [bin, '-v', 'token'], {
      env: {
        PATH: process.env.PATH ?? '',
        KEYFOB_CONFIG_DIR: join(home, 'config'),
        KEYFOB_DATA_DIR: join(home, 'data'),
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    let code: number | null | undefined
    const exited = new Promise<void>((resolve) =>
      child.once('exit', (c) => {
        code = c
        resolve()
      }),
    )
    const refreshOut = () => hungPaths.filter((p) => p === '/token').length > before
    try {
      // Bounded: 400 × 50 ms, inside the 30 s the command waits on the provider.
      for (let i = 0; i < 400 && code === undefined && !(refreshOut() && stderr.includes('give up')); i++)
        await new Promise((resolve) => setTimeout(resolve, 50))
      expect(hungPaths.filter((p) => p === '/token').length).toBe(before + 1) // the refresh is out
      expect(stderr).toContain('Requests to the provider give up after 30 s (--timeout)')
      expect(code).toBeUndefined() // still waiting on the provider
    } finally {
      child.kill('SIGKILL')
      await exited
    }
  }, 60_000)
})
