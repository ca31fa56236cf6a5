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

  it('refuses a redirect with the wrong state', async () => {
    await using server = await startLoopbackServer({ expectedState: 'expected' })
    const response = await fetch(`${server.redirectUri}?code=x&state=forged`)
    expect(response.status).toBe(400)
    await response.text()
    expect(await codeOf(server.callback)).toBe('ERR_STATE_MISMATCH')
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
