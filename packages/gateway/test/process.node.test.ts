/** The keyfob-guard binary as a real process over loopback: startup, refusals, streaming in constant memory, SIGTERM, workers. */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_KEY, type LoopbackServer, startServer, upstreamHandler } from './helpers.ts'

const BIN = fileURLToPath(new URL('../bin/keyfob-guard.mjs', import.meta.url))

interface Running {
  readonly child: ChildProcess
  readonly url: string
  readonly stderr: () => string
  readonly stdout: () => string
  readonly exited: Promise<number | null>
}

/** Starts the binary and waits (bounded) for its startup line; resolves with the URL it serves. */
function start(args: readonly string[], env: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  let out = ''
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no startup line: ${err}`)), 15_000)
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString()
      const match = /keyfob-guard: (http:\/\/127\.0\.0\.1:\d+)/.exec(err)
      if (match) {
        clearTimeout(timer)
        resolve({ child, url: match[1] as string, stderr: () => err, stdout: () => out, exited })
      }
    })
    exited.then((code) => {
      clearTimeout(timer)
      reject(Object.assign(new Error(`exited with ${code}: ${err}`), { code, stderr: err }))
    })
  })
}

/** Runs the binary to completion (it is expected to refuse to start). */
async function refuse(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { code, stderr }
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
}

async function stop(running: Running): Promise<number | null> {
  running.child.kill('SIGTERM')
  return running.exited
}

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

  it('streams a 512 MiB download and a 256 MiB upload with bounded memory growth', async () => {
    const running = await start([
      '--upstream',
      upstream.url,
      '--port',
      '0',
      '--allow-unauthenticated',
      '--no-access-log',
    ])
    try {
      // Warm up, then measure.
      await (await fetch(`${running.url}/bytes?n=1048576`)).arrayBuffer()
      const before = rssKb(running.child.pid as number)
      let peak = before
      const size = 512 * 1024 * 1024
      const res = await fetch(`${running.url}/bytes?n=${size}`)
      let received = 0
      const reader = (res.body as ReadableStream<Uint8Array>).getReader()
      let chunks = 0
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        received += value.length
        if (++chunks % 256 === 0) peak = Math.max(peak, rssKb(running.child.pid as number))
      }
      expect(received).toBe(size)
      const upload = 256 * 1024 * 1024
      const answer = await new Promise<string>((resolve, reject) => {
        const req = request(`${running.url}/upload`, { method: 'POST' }, (r) => {
          let text = ''
          r.on('data', (d: Buffer) => {
            text += d.toString()
          })
          r.on('end', () => resolve(text))
        })
        req.on('error', reject)
        const chunk = Buffer.alloc(1024 * 1024, 98)
        let left = upload / chunk.length
        const pump = () => {
          while (left > 0) {
            left--
            if (left % 32 === 0) peak = Math.max(peak, rssKb(running.child.pid as number))
            if (!req.write(chunk)) return req.once('drain', pump)
          }
          req.end()
        }
        pump()
      })
      expect(JSON.parse(answer)).toEqual({ received: upload })
      // Buffering either body would grow RSS by hundreds of MiB; streaming stays within a few buffers.
      expect(peak - before).toBeLessThan(96 * 1024)
    } finally {
      await stop(running)
    }
  }, 120_000)

  it('on SIGTERM finishes in-flight requests, then exits 0', async () => {
    const running = await start(['--upstream', upstream.url, '--port', '0', '--allow-unauthenticated'])
    const slow = fetch(`${running.url}/slow`)
    // Let the request reach the upstream before the signal.
    await new Promise((r) => setTimeout(r, 300))
    running.child.kill('SIGTERM')
    const res = await slow
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ slow: true })
    expect(await running.exited).toBe(0)
    expect(running.stdout()).toContain('"path":"/slow"')
  }, 30_000)

  it('--workers 2 serves through node:cluster and stops cleanly on SIGTERM', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo
        probe.close(() => resolve(port))
      })
    })
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
})
