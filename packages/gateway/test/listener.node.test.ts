/**
 * The gateway's own `node:http` listener (in place of `@hono/node-server`): the URL it gives the
 * app is the one `new URL()` makes, bad `Host`s are refused, responses are written whole (with a
 * Content-Length), streamed, or not at all when the handler already sent them, and the request's
 * signal follows the client.
 */
import { createServer, type IncomingMessage, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { ALREADY_SENT, type NodeBindings, nodeListener, requestUrl } from '../src/listener.ts'

let server: Server | undefined
const logged: unknown[] = []

async function listen(app: Hono<{ Bindings: NodeBindings }>): Promise<number> {
  const listening = createServer(
    nodeListener((req, env) => app.fetch(req, env), {
      defaultHost: () => 'fallback.test:1',
      log: (error) => logged.push(error),
    }),
  )
  server = listening
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve))
  return (listening.address() as AddressInfo).port
}

afterEach(async () => {
  logged.length = 0
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  server = undefined
})

/** Writes `head` (request line and headers) byte for byte; resolves with the whole raw answer. */
function rawExchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head))
    let data = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      data += chunk
    })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
}

interface Answer {
  readonly status: number
  readonly headers: IncomingMessage['headers']
  readonly rawHeaders: string[]
  readonly body: string
}

function get(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body }),
        )
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('requestUrl', () => {
  const incoming = (url: string, host?: string, encrypted = false) =>
    ({
      url,
      headers: host === undefined ? {} : { host },
      socket: { encrypted },
    }) as unknown as IncomingMessage

  it('is exactly what new URL() makes of scheme, Host and target, for plain and unusual strings alike', () => {
    const hosts = ['127.0.0.1:8080', 'api.example', 'API.Example:8080', 'localhost:80', '[::1]:3000', 'a-b.c']
    const targets = [
      '/geoapi/collections/obs/items?f=json&limit=10',
      '/a/./b',
      '/a/../b',
      '/a/%2e%2E/b',
      '/.well-known/oauth-protected-resource/geoapi',
      "/q?x='y'",
      '/sp%20ace',
      '/under_score~tilde!$&()*+,;=:@',
      '/a\\b',
      '/x?y=<z>',
      '/',
    ]
    for (const host of hosts) {
      for (const target of targets) {
        expect({ host, target, url: requestUrl(incoming(target, host), 'unused') }).toEqual({
          host,
          target,
          url: new URL(`http://${host}${target}`).href,
        })
      }
    }
    expect(requestUrl(incoming('/x', 'api.example:443', true), 'unused')).toBe('https://api.example/x')
  })

  it('agrees with new URL() on random targets (the fast path must never differ)', () => {
    const alphabet = 'abcXYZ019-._~!$&\'()*+,;=:@%/?#[]\\"<>`{} ^|é'
    let seed = 42
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let i = 0; i < 5000; i++) {
      let target = '/'
      const length = Math.floor(random() * 24)
      for (let j = 0; j < length; j++) target += alphabet[Math.floor(random() * alphabet.length)]
      let expected: string | undefined
      try {
        expected = new URL(`http://127.0.0.1:8080${target}`).href
      } catch {
        expected = undefined
      }
      if (expected === undefined) expect(() => requestUrl(incoming(target, '127.0.0.1:8080'), 'x')).toThrow()
      else
        expect({ target, url: requestUrl(incoming(target, '127.0.0.1:8080'), 'x') }).toEqual({
          target,
          url: expected,
        })
    }
  })

  it('takes absolute-form targets, the default host without Host, and refuses a Host that is not an authority', () => {
    expect(requestUrl(incoming('http://Other.example/a?b', 'ignored'), 'x')).toBe('http://other.example/a?b')
    expect(requestUrl(incoming('/a'), 'fallback.test:1')).toBe('http://fallback.test:1/a')
    // `127.1` would reach the app as 127.0.0.1, `bücher.example` as xn--bcher-kva.example.
    for (const host of ['a/b', 'a b', 'a:99999', '[::1', 'a@b', 'a?b', 'a#b', '127.1', 'bücher.example']) {
      expect(() => requestUrl(incoming('/', host), 'x'), host).toThrow()
    }
    expect(() => requestUrl(incoming('*', 'a'), 'x')).toThrow()
  })
})

describe('nodeListener', () => {
  it('answers a bad Host with a JSON 400 before the app runs', async () => {
    let ran = false
    const app = new Hono<{ Bindings: NodeBindings }>()
    app.all('*', (c) => {
      ran = true
      return c.text('no')
    })
    const port = await listen(app)
    const answer = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n')
    expect(answer).toMatch(/^HTTP\/1\.1 400 /)
    expect(answer).toContain('"error":"invalid_request"')
    expect(ran).toBe(false)
  })

  it('writes small answers whole with a Content-Length, keeps repeated Set-Cookie, status text and HEAD bodiless', async () => {
    const app = new Hono<{ Bindings: NodeBindings }>()
    app.get('/json', (c) => {
      c.header('set-cookie', 'a=1', { append: true })
      c.header('set-cookie', 'b=2', { append: true })
      return c.json({ ok: true, url: c.req.url }, 418)
    })
    app.get('/teapot', () => new Response('short', { status: 200, statusText: 'Fine Thanks' }))
    const port = await listen(app)
    const json = await get(port, '/json', { headers: { host: 'API.example:8080' } })
    expect(json.status).toBe(418)
    expect(JSON.parse(json.body)).toEqual({ ok: true, url: 'http://api.example:8080/json' })
    expect(json.headers['content-length']).toBe(String(Buffer.byteLength(json.body)))
    expect(json.headers['transfer-encoding']).toBeUndefined()
    expect(json.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    const head = await get(port, '/json', { method: 'HEAD' })
    expect(head.status).toBe(418)
    expect(head.body).toBe('')
    const raw = await rawExchange(port, 'GET /teapot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(raw).toMatch(/^HTTP\/1\.1 200 Fine Thanks\r\n/)
  })

  it('streams a body of many chunks as it comes', async () => {
    let pushMore: (() => void) | undefined
    const app = new Hono<{ Bindings: NodeBindings }>()
    app.get('/stream', () => {
      let n = 0
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          n++
          if (n === 3) await new Promise<void>((resolve) => (pushMore = resolve))
          if (n > 5) controller.close()
          else controller.enqueue(new TextEncoder().encode(`chunk${n};`))
        },
      })
      return new Response(body, { headers: { 'content-type': 'text/plain' } })
    })
    const port = await listen(app)
    const answered = new Promise<{ first: string; all: string; chunked: boolean }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/stream' }, (res) => {
        let all = ''
        let first = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          all += chunk
          if (first === '') {
            first = all
            // The third chunk waits until the client has the first two: nothing is buffered whole.
            setTimeout(() => pushMore?.(), 20)
          }
        })
        res.on('end', () => resolve({ first, all, chunked: res.headers['transfer-encoding'] === 'chunked' }))
      })
      req.on('error', reject)
      req.end()
    })
    const { first, all, chunked } = await answered
    expect(first.startsWith('chunk1;')).toBe(true)
    expect(first).not.toContain('chunk3')
    expect(all).toBe('chunk1;chunk2;chunk3;chunk4;chunk5;')
    expect(chunked).toBe(true)
  })

  it('leaves the socket alone when the handler already answered, even after Hono re-wrapped the marker', async () => {
    const app = new Hono<{ Bindings: NodeBindings }>()
    app.use('*', async (c, next) => {
      await next()
      // What the guard does after a route for its prepared headers: Hono copies c.res.
      c.header('x-after', '1')
    })
    app.get('/sent', (c) => {
      c.env.outgoing.writeHead(201, { 'content-type': 'text/plain' })
      c.env.outgoing.end('by hand')
      return ALREADY_SENT
    })
    const port = await listen(app)
    const answer = await get(port, '/sent')
    expect(answer).toMatchObject({ status: 201, body: 'by hand' })
    expect(answer.headers['x-after']).toBeUndefined()
    expect(logged).toEqual([])
  })

  it("aborts the request's signal when the client goes away, and reads a request body on demand", async () => {
    let aborted: Promise<unknown> | undefined
    const app = new Hono<{ Bindings: NodeBindings }>()
    app.get('/wait', (c) => {
      const signal = c.req.raw.signal
      aborted = new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason)))
      return new Promise<Response>(() => {})
    })
    app.post('/echo', async (c) => c.json({ text: await c.req.text(), body: c.req.raw.body !== null }))
    const port = await listen(app)
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /wait HTTP/1.1\r\nHost: x\r\n\r\n'))
    await new Promise((resolve) => setTimeout(resolve, 100))
    socket.destroy()
    expect(String(await aborted)).toContain('closed the connection')
    const echoed = await new Promise<Answer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/echo', method: 'POST' }, (res) => {
        let body = ''
        res.on('data', (chunk) => {
          body += chunk
        })
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: [], body }),
        )
      })
      req.on('error', reject)
      req.end('hello body')
    })
    expect(JSON.parse(echoed.body)).toEqual({ text: 'hello body', body: true })
  })

  it('answers a handler that throws outside Hono with a JSON 500 and logs it once', async () => {
    server = createServer(
      nodeListener(
        () => {
          throw new Error('boom')
        },
        { defaultHost: () => 'x', log: (error) => logged.push(error) },
      ),
    )
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const answer = await get((server.address() as AddressInfo).port, '/')
    expect(answer.status).toBe(500)
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'server_error' })
    expect(logged).toHaveLength(1)
  })
})
