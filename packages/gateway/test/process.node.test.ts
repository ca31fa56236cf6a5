/** The keyfob-guard binary as a real process over loopback: startup, refusals, SIGTERM, workers. */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_KEY, type LoopbackServer, startHeldUpstream, startServer, upstreamHandler } from './helpers.ts'
import { freePort, refuse, start, stop } from './spawn.ts'

let upstream: LoopbackServer
beforeAll(async () => {
  upstream = await startServer(upstreamHandler)
})
afterAll(async () => {
  await upstream.close()
})

describe('keyfob-guard as a process', () => {
  it('prints one startup line naming what is protected, how and what is public; binds 127.0.0.1', async () => {
    const running = await start(
      [
        '--upstream',
        upstream.url,
        '--mount',
        '/geoapi',
        '--port',
        '0',
        '--api-key-env-prefix',
        'PYGEOAPI_KEY_',
      ],
      {
        PYGEOAPI_KEY_GLOBAL: API_KEY,
      },
    )
    try {
      const lines = running.stderr().trim().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain('/geoapi/*')
      expect(lines[0]).toContain('API key (X-API-KEY')
      expect(lines[0]).toContain(
        'public: GET /geoapi, GET /geoapi/, GET /geoapi/openapi, GET /geoapi/conformance',
      )
      expect(lines[0]).not.toContain(API_KEY)
      expect(running.url.startsWith('http://127.0.0.1:')).toBe(true)
      expect((await fetch(`${running.url}/geoapi/collections`)).status).toBe(401)
      expect(
        (await fetch(`${running.url}/geoapi/collections`, { headers: { 'x-api-key': API_KEY } })).status,
      ).toBe(200)
    } finally {
      expect(await stop(running)).toBe(0)
    }
  }, 30_000)

  it('refuses to start without a mode, and with two modes without --combine (exit 2, the setting named)', async () => {
    const none = await refuse(['--upstream', upstream.url, '--port', '0'])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('--allow-unauthenticated')
    const two = await refuse(
      [
        '--upstream',
        upstream.url,
        '--port',
        '0',
        '--api-key-env-prefix',
        'K_',
        '--jwt-issuer',
        'https://idp.example',
        '--jwt-audience',
        'a',
      ],
      { K_A: API_KEY },
    )
    expect(two.code).toBe(2)
    expect(two.stderr).toContain('are mutually exclusive')
    const insecure = await refuse(['--upstream', upstream.url, '--fastgeoapi-env', '/dev/null'], {
      ENV_STATE: 'dev',
      DEV_JWKS_ENABLED: 'true',
      DEV_OAUTH2_JWKS_ENDPOINT: 'https://idp.example/jwks',
    })
    expect(insecure.code).toBe(2)
    expect(insecure.stderr).toContain('DEV_OAUTH2_EXPECTED_ISSUER')
  }, 30_000)

  it('on SIGTERM finishes in-flight requests, then exits 0', async () => {
    const held = await startHeldUpstream()
    const running = await start(['--upstream', held.url, '--port', '0', '--allow-unauthenticated'])
    try {
      const inFlight = fetch(`${running.url}/held`)
      // The request is at the upstream when the signal comes; the answer is released after it.
      await held.arrived
      running.child.kill('SIGTERM')
      // A new connection is refused once the server stopped listening (bounded wait for that).
      let refused = false
      for (let i = 0; i < 100 && !refused; i++) {
        refused = await fetch(`${running.url}/other`).then(
          () => false,
          () => true,
        )
        if (!refused) await new Promise((r) => setTimeout(r, 20))
      }
      expect(refused).toBe(true)
      held.release()
      const res = await inFlight
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ held: true })
      expect(await running.exited).toBe(0)
      expect(running.stdout()).toContain('"path":"/held"')
    } finally {
      await held.close()
    }
  }, 30_000)

  it('answers 504 JSON when the upstream holds its answer past --upstream-timeout-ms (node:http forwarder)', async () => {
    const held = await startHeldUpstream()
    const running = await start([
      '--upstream',
      held.url,
      '--port',
      '0',
      '--allow-unauthenticated',
      '--upstream-timeout-ms',
      '100',
    ])
    try {
      const res = await fetch(`${running.url}/held`)
      expect(res.status).toBe(504)
      expect(await res.json()).toEqual({
        error: 'upstream_timeout',
        error_description: 'the upstream sent no response within 100 ms',
      })
    } finally {
      held.release()
      expect(await stop(running)).toBe(0)
      await held.close()
    }
  }, 30_000)

  it('--workers 2 serves through node:cluster and stops cleanly on SIGTERM', async () => {
    const port = await freePort()
    const running = await start([
      '--upstream',
      upstream.url,
      '--port',
      String(port),
      '--allow-unauthenticated',
      '--workers',
      '2',
    ])
    try {
      expect(running.stderr()).toContain('(2 workers)')
      // Workers come up after the primary's line: retry briefly (bounded).
      let status = 0
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/collections`).then(
          (r) => r.status,
          () => 0,
        )
        if (status !== 200) await new Promise((r) => setTimeout(r, 100))
      }
      expect(status).toBe(200)
    } finally {
      expect(await stop(running)).toBe(0)
    }
  }, 30_000)
  it('--workers: a worker that cannot listen stops the command with its error, printed once (no restart loop)', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const { port } = taken.address() as AddressInfo
    try {
      const result = await refuse([
        '--upstream',
        upstream.url,
        '--port',
        String(port),
        '--allow-unauthenticated',
        '--workers',
        '2',
      ])
      expect(result.code).toBe(1)
      expect(result.stderr.match(/EADDRINUSE/g)).toHaveLength(1)
      expect(result.stderr).not.toContain('starting another')
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()))
    }
  }, 30_000)

  it('--workers: a worker that crashes after it listened is restarted after a back-off', async () => {
    const running = await start([
      '--upstream',
      upstream.url,
      '--port',
      '0',
      '--allow-unauthenticated',
      '--workers',
      '2',
    ])
    try {
      // The workers are the primary's children (Linux /proc); wait (bounded) for both.
      const children = () =>
        readFileSync(`/proc/${running.child.pid}/task/${running.child.pid}/children`, 'utf8')
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number)
      let workers: number[] = []
      for (let i = 0; i < 100 && workers.length < 2; i++) {
        workers = children()
        if (workers.length < 2) await new Promise((r) => setTimeout(r, 50))
      }
      expect(workers).toHaveLength(2)
      // A worker killed before it listened stops all: wait (bounded) until the primary says both do.
      for (let i = 0; i < 400 && !running.stderr().includes('2 workers listening'); i++)
        await new Promise((r) => setTimeout(r, 50))
      expect(running.stderr()).toContain('keyfob-guard: 2 workers listening')
      process.kill(workers[0] as number, 'SIGKILL')
      let replaced = false
      for (let i = 0; i < 100 && !replaced; i++) {
        const now = children()
        replaced = now.length === 2 && !now.includes(workers[0] as number)
        if (!replaced) await new Promise((r) => setTimeout(r, 50))
      }
      expect(replaced).toBe(true)
      expect(running.stderr()).toContain(
        `worker ${workers[0]} exited with SIGKILL; starting another in 100 ms`,
      )
    } finally {
      expect(await stop(running)).toBe(0)
    }
  }, 30_000)
})
