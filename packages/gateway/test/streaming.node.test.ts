/**
 * keyfob-guard streams 1 GiB down and 1 GiB up through a real gateway process over loopback while
 * its resident memory stays bounded: the bodies are generated (a reused buffer, no files), and
 * every loop is bounded by the byte count.
 */
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rssKb, start, stop } from './spawn.ts'

const GiB = 1024 * 1024 * 1024
const CHUNK = Buffer.alloc(1024 * 1024, 97)
/** Growth over the warmed-up baseline that still counts as "constant": a few socket buffers. */
const MAX_GROWTH_KB = 64 * 1024

/**
 * A node:http upstream: `GET /bytes?n=N` writes N bytes (one reused 1 MiB buffer, with
 * backpressure); `POST /upload` counts the request body and answers `{"received":N}`.
 */
let upstream: Server
let upstreamUrl = ''
beforeAll(async () => {
  upstream = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream')
    if (url.pathname === '/bytes') {
      let left = Number(url.searchParams.get('n'))
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) })
      const pump = () => {
        while (left > 0) {
          const size = Math.min(left, CHUNK.length)
          left -= size
          if (!res.write(size === CHUNK.length ? CHUNK : CHUNK.subarray(0, size))) {
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      pump()
      return
    }
    let received = 0
    req.on('data', (d: Buffer) => {
      received += d.length
    })
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ received }))
    })
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
})
afterAll(async () => {
  upstream.closeAllConnections()
  await new Promise((resolve) => upstream.close(resolve))
})

/** Downloads `n` bytes, calling `sample` every 64 chunks; resolves with the byte count. */
function download(url: string, n: number, sample: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${url}/bytes?n=${n}`, (res) => {
      let received = 0
      let chunks = 0
      res.on('data', (d: Buffer) => {
        received += d.length
        if (++chunks % 64 === 0) sample()
      })
      res.on('end', () => resolve(received))
      res.on('error', reject)
    })
      .on('error', reject)
      .end()
  })
}

/** Uploads `n` bytes (a reused 1 MiB buffer), calling `sample` every 16 MiB; resolves with the answer. */
function upload(url: string, n: number, sample: () => void): Promise<{ received: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/upload`,
      { method: 'POST', headers: { 'content-length': String(n) } },
      (res) => {
        let text = ''
        res.on('data', (d: Buffer) => {
          text += d.toString()
        })
        res.on('end', () => resolve(JSON.parse(text) as { received: number }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    let left = n / CHUNK.length
    const pump = () => {
      while (left > 0) {
        left--
        if (left % 16 === 0) sample()
        if (!req.write(CHUNK)) {
          req.once('drain', pump)
          return
        }
      }
      req.end()
    }
    pump()
  })
}

describe('keyfob-guard streaming (node:http forwarder)', () => {
  it('passes a 1 GiB download and a 1 GiB upload with its RSS within 64 MiB of the warmed-up baseline', async () => {
    const running = await start([
      '--upstream',
      upstreamUrl,
      '--port',
      '0',
      '--allow-unauthenticated',
      '--no-access-log',
    ])
    try {
      const pid = running.child.pid as number
      // Warm up both directions (JIT, socket buffers, the agent's pool), then take the baseline.
      expect(await download(running.url, 16 * 1024 * 1024, () => {})).toBe(16 * 1024 * 1024)
      expect(await upload(running.url, 16 * 1024 * 1024, () => {})).toEqual({ received: 16 * 1024 * 1024 })
      const baseline = rssKb(pid)
      let peak = baseline
      const sample = () => {
        peak = Math.max(peak, rssKb(pid))
      }
      expect(await download(running.url, GiB, sample)).toBe(GiB)
      const afterDownload = peak
      expect(await upload(running.url, GiB, sample)).toEqual({ received: GiB })
      // Buffering either body would grow the gateway by a GiB; streaming holds a few buffers.
      expect(afterDownload - baseline).toBeLessThan(MAX_GROWTH_KB)
      expect(peak - baseline).toBeLessThan(MAX_GROWTH_KB)
    } finally {
      expect(await stop(running)).toBe(0)
    }
  }, 180_000)
})
