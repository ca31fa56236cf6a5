/**
 * Path confusion through the real process: the guard must decide on the very path the upstream
 * receives, and refuse paths that a decoding or normalising upstream reads differently.
 */
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_KEY } from './helpers.ts'
import { type Running, start, stop } from './spawn.ts'

/** An upstream that records the raw request-target it received (node:http does not normalise it). */
let upstream: Server
let upstreamUrl = ''
const received: string[] = []
let gateway: Running

/** Sends `path` byte for byte (fetch and URL would normalise it); resolves with status and body. */
function raw(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { port } = new URL(gateway.url)
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    received.push(req.url ?? '')
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ path: req.url }))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  gateway = await start(
    [
      '--upstream',
      upstreamUrl,
      '--mount',
      '/geoapi',
      '--port',
      '0',
      '--api-key-env-prefix',
      'PYGEOAPI_KEY_',
      '--public',
      'GET /,GET /openapi,GET /openapi/*,GET /conformance',
    ],
    { PYGEOAPI_KEY_GLOBAL: API_KEY },
  )
}, 30_000)

afterAll(async () => {
  if (gateway) expect(await stop(gateway)).toBe(0)
  await new Promise<void>((resolve) => upstream.close(() => resolve()))
})

describe('keyfob-guard refuses ambiguous paths before any decision', () => {
  const ambiguous: ReadonlyArray<readonly [string, string]> = [
    ['/geoapi/conformance%2F..%2Fcollections/x', '(%2F)'],
    ['/geoapi/openapi%2f../collections', '(%2F)'],
    ['/geoapi/openapi/..%2fcollections', '(%2F)'],
    ['/geoapi/openapi/..%2Fcollections', '(%2F)'],
    ['/geoapi/openapi/%2e%2e%2fcollections', '(%2E)'],
    ['/geoapi/openapi/%2E%2E/collections', '(%2E)'],
    ['/geoapi/openapi%5c..%5ccollections', '(%5C)'],
    ['/geoapi/openapi/../collections', 'a ".." segment'],
    ['/geoapi/openapi/./x', 'a "." segment'],
    ['/geoapi/openapi/x%00', '(%00)'],
    ['/geoapi/openapi/x%zz', 'a "%" not followed by two hex digits'],
  ]

  it('answers 400 JSON for encoded "/", "\\", ".", NUL, bad escapes and dot segments; nothing reaches the upstream', async () => {
    received.length = 0
    for (const [path, why] of ambiguous) {
      // With and without a valid key: the refusal comes before the guard, whatever the caller.
      for (const headers of [{}, { 'x-api-key': API_KEY }]) {
        const res = await raw(path, headers)
        expect({ path, status: res.status }).toEqual({ path, status: 400 })
        const body = JSON.parse(res.body) as { error: string; error_description: string }
        expect(body.error).toBe('invalid_request')
        expect(body.error_description).toContain(why)
      }
    }
    // A literal backslash (URL parsing reads it as "/" and resolves the "..") is refused the same way.
    const backslash = await raw('/geoapi/openapi/..\\collections', { 'x-api-key': API_KEY })
    expect(backslash.status).toBe(400)
    expect(JSON.parse(backslash.body)).toMatchObject({ error: 'invalid_request' })
    expect(JSON.parse(backslash.body).error_description).toContain('"\\"')
    expect(received).toEqual([])
  }, 30_000)

  it('decides on the raw path it forwards: an escaped public path is not public', async () => {
    received.length = 0
    // Hono's c.req.path would read `/geoapi/c%6fnformance` as the public `/geoapi/conformance`.
    expect((await raw('/geoapi/c%6fnformance')).status).toBe(401)
    expect((await raw('/geoapi/openap%69/x')).status).toBe(401)
    expect(received).toEqual([])
    // With a key the same path is forwarded exactly as sent.
    const keyed = await raw('/geoapi/c%6fnformance', { 'x-api-key': API_KEY })
    expect(keyed.status).toBe(200)
    expect(received).toEqual(['/c%6fnformance'])
  }, 30_000)

  it('forwards plain and escaped-but-unambiguous public paths byte for byte', async () => {
    received.length = 0
    expect((await raw('/geoapi/openapi/swagger%20ui.css?f=json')).status).toBe(200)
    expect((await raw('/geoapi/openapi/a%252F..')).status).toBe(200)
    expect((await raw('/geoapi/conformance')).status).toBe(200)
    expect(received).toEqual(['/openapi/swagger%20ui.css?f=json', '/openapi/a%252F..', '/conformance'])
    // A protected path stays protected.
    expect((await raw('/geoapi/collections')).status).toBe(401)
  }, 30_000)
})
