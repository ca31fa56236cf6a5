import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { openCommand, startLoopbackServer } from '../src/index.ts'
import { codeOf } from './helpers.ts'

describe('loopback redirect server (RFC 8252 §7.3)', () => {
  it('binds 127.0.0.1 on a free port, resolves with the redirect, serves a success page and closes', async () => {
    const server = await startLoopbackServer({ expectedState: 'st-1' })
    expect(server.redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/)
    const response = await fetch(`${server.redirectUri}?code=abc&state=st-1&iss=https%3A%2F%2Fidp`)
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('signed in')
    const params = await server.callback
    expect(params.get('code')).toBe('abc')
    await server.close()
    await expect(fetch(server.redirectUri)).rejects.toThrow()
  })

  it('answers other paths with 404 and keeps waiting', async () => {
    await using server = await startLoopbackServer()
    const favicon = await fetch(server.redirectUri.replace('/callback', '/favicon.ico'))
    expect(favicon.status).toBe(404)
    await favicon.text()
    await (await fetch(`${server.redirectUri}?code=x`)).text()
    expect((await server.callback).get('code')).toBe('x')
  })

  it('shows a failure page for an error redirect and resolves with the error for the caller to map', async () => {
    await using server = await startLoopbackServer({ expectedState: 's' })
    const response = await fetch(`${server.redirectUri}?error=access_denied&error_description=no&state=s`)
    expect(await response.text()).toContain('access_denied')
    expect((await server.callback).get('error')).toBe('access_denied')
  })

  it('answers a redirect with the wrong or no state with an error page, and keeps waiting for the real one', async () => {
    const ignored: string[] = []
    await using server = await startLoopbackServer({
      expectedState: 'expected',
      onIgnored: (reason) => ignored.push(reason),
    })
    const forged = await fetch(`${server.redirectUri}?code=x&state=forged`)
    expect(forged.status).toBe(400)
    expect(await forged.text()).toContain('state mismatch')
    // What a web page's <img src="http://127.0.0.1:PORT/callback?error=access_denied"> sends.
    const img = await fetch(`${server.redirectUri}?error=access_denied`)
    expect(img.status).toBe(400)
    await img.text()
    expect(ignored).toHaveLength(2)
    const real = await fetch(`${server.redirectUri}?code=real&state=expected`)
    expect(real.status).toBe(200)
    await real.text()
    expect((await server.callback).get('code')).toBe('real')
  })

  it('ignores a request whose Host is not a loopback name (DNS rebinding)', async () => {
    const ignored: string[] = []
    await using server = await startLoopbackServer({ expectedState: 's', onIgnored: (r) => ignored.push(r) })
    const port = Number(new URL(server.redirectUri).port)
    const status = await rawGet(port, '/callback?code=x&state=s', 'attacker.example')
    expect(status).toBe(421)
    expect(ignored).toEqual(['a request for host "attacker.example", not this loopback server'])
    expect(await rawGet(port, '/callback?code=y&state=s', `localhost:${port}`)).toBe(200)
    expect((await server.callback).get('code')).toBe('y')
  })

  it('takes the host from the URL when an in-process adapter gives no Host header', async () => {
    let handler: ((request: Request) => Response | Promise<Response>) | undefined
    const inPage = async (h: typeof handler) => {
      handler = h
      return { port: 4242, close: async () => {} }
    }
    const server = await startLoopbackServer({ expectedState: 's', listen: inPage as never })
    const foreign = await (handler as NonNullable<typeof handler>)(
      new Request('http://attacker.example:4242/callback?code=x&state=s'),
    )
    expect(foreign.status).toBe(421)
    const own = await (handler as NonNullable<typeof handler>)(
      new Request(`${server.redirectUri}?code=y&state=s`),
    )
    expect(own.status).toBe(200)
    expect((await server.callback).get('code')).toBe('y')
  })

  it('says how many requests it ignored when it times out', async () => {
    const server = await startLoopbackServer({ expectedState: 's', timeoutMs: 300 })
    await (await fetch(`${server.redirectUri}?code=x&state=stale`)).text()
    const error = await server.callback.catch((e: unknown) => e)
    expect(await codeOf(Promise.reject(error))).toBe('ERR_TIMEOUT')
    expect((error as Error).message).toContain('(1 request was ignored: a wrong state or host)')
  })

  it('times out, can be aborted, and rejects a pending callback when closed', async () => {
    const slow = await startLoopbackServer({ timeoutMs: 50 })
    expect(await codeOf(slow.callback)).toBe('ERR_TIMEOUT')
    const controller = new AbortController()
    const aborted = await startLoopbackServer({ signal: controller.signal })
    controller.abort()
    expect(await codeOf(aborted.callback)).toBe('ERR_ABORTED')
    const closed = await startLoopbackServer()
    await closed.close()
    expect(await codeOf(closed.callback)).toBe('ERR_ABORTED')
  })

  it('refuses non-loopback addresses and a taken port', async () => {
    expect(await codeOf(startLoopbackServer({ hostname: '0.0.0.0' }))).toBe('ERR_INSECURE_REDIRECT')
    expect(await codeOf(startLoopbackServer({ hostname: 'localhost' }))).toBe('ERR_INSECURE_REDIRECT')
    await using first = await startLoopbackServer()
    const port = Number(new URL(first.redirectUri).port)
    expect(await codeOf(startLoopbackServer({ port }))).toBe('ERR_PORT_IN_USE')
  })

  it('binds ::1 when asked', async () => {
    await using server = await startLoopbackServer({ hostname: '::1' })
    expect(server.redirectUri).toMatch(/^http:\/\/\[::1\]:\d+\/callback$/)
  })
})

describe('openCommand', () => {
  it('picks the opener per OS, passing the URL as one argument', () => {
    const url = 'https://idp.example/authorize?a=1&b=2'
    expect(openCommand('darwin', url)).toEqual({ command: 'open', args: [url] })
    expect(openCommand('win32', url)).toEqual({
      command: 'rundll32',
      args: ['url.dll,FileProtocolHandler', url],
    })
    expect(openCommand('linux', url)).toEqual({ command: 'xdg-open', args: [url] })
    expect(openCommand('aix', url)).toBeUndefined()
  })
})

/** Sends one GET with the given Host header over a raw socket (fetch cannot set Host) and returns the status. */
function rawGet(port: number, target: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk) => {
      answer += chunk
    })
    socket.on('error', reject)
    socket.on('end', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0)))
    socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
  })
}
