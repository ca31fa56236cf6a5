/**
 * keyfob against itself, as a user runs it (issue 19): the spawned `keyfob` adds the served mock
 * IdP with `--dpop` and a resource, logs in by device code (approved over the IdP's HTTP control
 * plane), and `keyfob fetch`es a loopback API protected by the guard's `jwtAuth` with DPoP — again
 * in a new process with the stored key — then logs out. The IdP's journal and the guard both see
 * the thumbprint of the key keyfob stored.
 */
import { existsSync, readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { serve as serveNode } from '@hono/node-server'
import { type GuardEnv, jwtAuth } from '@keyfob/guard'
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { Hono, type MiddlewareHandler } from 'hono'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { envOf, keyfob, newHome, spawnKeyfob } from './spawn.ts'

let idp: MockIdpServer
let api: string
let closeApi: () => Promise<void>
/** The key thumbprint (`cnf.jkt`) of each request the API let through. */
const accepted: string[] = []

beforeAll(async () => {
  idp = await serve({
    clients: [{ clientId: 'cli', dpopBoundAccessTokens: true }],
    deviceIntervalS: 1,
  })
  const app = new Hono<GuardEnv>()
  // The API's own origin (its audience) is known once it listens: the middleware is made then, once.
  let guard: MiddlewareHandler<GuardEnv> | undefined
  app.use('*', (c, next) => {
    guard ??= jwtAuth({
      jwksUrl: `${idp.issuer}/jwks`,
      issuer: idp.issuer,
      audience: api,
      dpop: { required: true },
    })
    return guard(c, next)
  })
  app.get('*', (c) => {
    const jkt = c.get('auth')?.dpop?.jkt ?? ''
    accepted.push(jkt)
    return c.json({ path: c.req.path, jkt })
  })
  const server = await new Promise<ReturnType<typeof serveNode>>((resolve) => {
    const s = serveNode({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  closeApi = () => new Promise((resolve) => server.close(() => resolve()))
})

afterAll(async () => {
  await closeApi?.()
  await idp?.close()
})

/** `keyfob login --json`, approving the user code over the control plane when it shows up. */
async function deviceLogin(home: string): Promise<{ code: number | null; stdout: string }> {
  const child = spawnKeyfob(['login', '--json'], { env: envOf(home) })
  child.stdin.end()
  let stdout = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  for await (const line of createInterface({ input: child.stderr })) {
    const event = JSON.parse(line) as { event?: string; userCode?: string }
    if (event.event !== 'user_code') continue
    const approved = await fetch(`${idp.issuer}/_control/devices/${event.userCode}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice' }),
    })
    expect(approved.status).toBe(200)
    break
  }
  const code = await exited
  clearTimeout(timer)
  return { code, stdout }
}

describe('keyfob against itself: the CLI, the served mock IdP and a guarded API with DPoP', () => {
  it('add-oidc --dpop, device login, status, token, fetch twice in new processes, logout', async () => {
    const home = newHome()
    const added = await keyfob(home, [
      'add-oidc',
      idp.issuer,
      '--provider-id',
      'mock',
      '--client-id',
      'cli',
      '--no-client-secret',
      '--dpop',
      '--resource',
      api,
    ])
    expect(added.code).toBe(0)
    expect(added.stderr).toContain('Added provider mock')

    const login = await deviceLogin(home)
    expect(login.code).toBe(0)
    expect(JSON.parse(login.stdout).dpop).toEqual({ alg: 'ES256' })
    const tokensFile = join(home, 'data', 'tokens.json')
    const stored = JSON.parse(readFileSync(tokensFile, 'utf8')).tokens[0].record
    const { kty, crv, x, y } = stored.dpopKey.jwk
    const jkt = await calculateJwkThumbprint({ kty, crv, x, y } as JWK)
    // The IdP saw every token request signed by the key keyfob stored, and bound the token to it.
    const journal = idp.idp.control.journal
    const polls = journal.entries({
      endpoint: 'token',
      grantType: 'urn:ietf:params:oauth:grant-type:device_code',
    })
    expect(polls.length).toBeGreaterThan(0)
    expect(polls.map((e) => e.dpop?.jkt)).toEqual(polls.map(() => jkt))
    expect(polls.at(-1)?.status).toBe(200)
    expect(journal.entries({ endpoint: 'device_authorization' })[0]?.params.resource).toBe(api)
    expect(JSON.parse(atob(stored.accessToken.split('.')[1]))).toMatchObject({ aud: api, cnf: { jkt } })

    const status = await keyfob(home, ['status'])
    expect(status.code).toBe(0)
    expect(status.stdout).toContain('DPoP-bound (ES256)')
    const token = await keyfob(home, ['token'])
    expect(token.code).toBe(0)
    expect(token.stdout.trim()).toBe(stored.accessToken)
    expect(token.stderr).toMatch(/DPoP-bound.*keyfob fetch/)

    const seqBefore = journal.entries().at(-1)?.seq ?? 0
    const first = await keyfob(home, ['fetch', `${api}jobs`])
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(JSON.parse(first.stdout)).toEqual({ path: '/jobs', jkt })
    // A new process: the stored key signs the proof, and nothing goes to the IdP's token endpoint.
    const second = await keyfob(home, ['fetch', `${api}jobs/2`])
    expect(second.code).toBe(0)
    expect(JSON.parse(second.stdout)).toEqual({ path: '/jobs/2', jkt })
    expect(accepted).toEqual([jkt, jkt])
    expect(journal.entries({ endpoint: 'token', sinceSeq: seqBefore })).toEqual([])
    expect(JSON.parse(readFileSync(tokensFile, 'utf8')).tokens[0].record.dpopKey).toEqual(stored.dpopKey)

    const logout = await keyfob(home, ['logout'])
    expect(logout.code).toBe(0)
    const left = existsSync(tokensFile) ? JSON.parse(readFileSync(tokensFile, 'utf8')).tokens : []
    expect(left).toEqual([])
    expect(journal.entries({ endpoint: 'revocation', sinceSeq: seqBefore }).map((e) => e.status)).toContain(
      200,
    )
  }, 120_000)
})
