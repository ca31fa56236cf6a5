/**
 * The control plane answers only the test process: a web page open on the same machine (Origin),
 * a DNS-rebound name (Host) or anyone without the control token must not drive it.
 */
import { describe, expect, it } from 'vitest'
import { createMockIdp, type MockIdp, serve } from '../src/index.ts'

async function control(
  idp: MockIdp,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; base?: string } = {},
) {
  const response = await idp.fetch(`${init.base ?? idp.issuer}/_control${path}`, {
    method: init.method ?? 'GET',
    headers: init.headers,
    body: init.body,
  })
  return { response, body: (await response.json()) as Record<string, unknown> }
}

describe('control plane: refusals', () => {
  it('refuses a request from a web page (Origin), with no CORS headers, even as a preflight', async () => {
    const idp = await createMockIdp()
    const read = await control(idp, '/users', { headers: { origin: 'https://evil.example' } })
    expect(read.response.status).toBe(403)
    expect(read.body.error).toBe('ERR_CONTROL_FORBIDDEN')
    expect(read.response.headers.get('access-control-allow-origin')).toBeNull()
    expect(JSON.stringify(read.body)).not.toContain('alice"') // no user list, no password
    const preflight = await idp.fetch(`${idp.issuer}/_control/tokens`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    })
    expect(preflight.status).toBe(403)
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
    expect(preflight.headers.get('access-control-allow-methods')).toBeNull()
    // Even the IdP's own origin: the control plane is not for browsers at all.
    const same = await control(idp, '/clock', { method: 'POST', headers: { origin: idp.issuer }, body: '{}' })
    expect(same.response.status).toBe(403)
    // The OAuth endpoints keep their CORS for browser-based clients under test.
    const doc = await idp.fetch(`${idp.issuer}/.well-known/openid-configuration`, {
      headers: { origin: 'https://app.example' },
    })
    expect(doc.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('refuses a non-loopback Host (DNS rebinding) and accepts loopback names and the issuer', async () => {
    const idp = await createMockIdp()
    const rebound = await control(idp, '/users', { base: 'http://attacker.example:9400' })
    expect(rebound.response.status).toBe(403)
    expect(String(rebound.body.error_description)).toContain('attacker.example')
    const header = await control(idp, '/users', { headers: { host: 'attacker.example' } })
    expect(header.response.status).toBe(403)
    for (const base of ['http://127.0.0.1:9400', 'http://localhost:9400', 'http://[::1]:9400', idp.issuer]) {
      expect((await control(idp, '/clock', { base })).response.status).toBe(200)
    }
    expect(idp.control.journal.entries({ endpoint: 'control' }).map((e) => e.status)).toEqual([
      403, 403, 200, 200, 200, 200,
    ])
  })

  it('requires the control token when one is set, from any host', async () => {
    const token = 'control-token-0123456789'
    const idp = await createMockIdp({ controlToken: token })
    const none = await control(idp, '/users')
    expect(none.response.status).toBe(401)
    expect(none.response.headers.get('www-authenticate')).toContain('Bearer')
    expect(JSON.stringify(none.body)).not.toContain(token)
    const wrong = await control(idp, '/users', { headers: { authorization: 'Bearer not-the-token-at-all' } })
    expect(wrong.response.status).toBe(401)
    const right = await control(idp, '/users', {
      base: 'http://idp.lan:9400',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(right.response.status).toBe(200)
    // Origin is refused even with the token.
    const browser = await control(idp, '/users', {
      headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example' },
    })
    expect(browser.response.status).toBe(403)
    // The in-process control object needs no token.
    expect(idp.control.users.list()).toHaveLength(1)
  })

  it('refuses a control token too short to be a secret', async () => {
    await expect(createMockIdp({ controlToken: 'short' })).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
    })
  })

  it('answers malformed control input with 4xx, never 5xx', async () => {
    const idp = await createMockIdp()
    const json = { 'content-type': 'application/json' }
    const cases = [
      { path: '/users/%E0%A4%A', method: 'GET' },
      { path: '/users/%E0%A4%A', method: 'PATCH', body: '{"password":"x"}' },
      { path: '/devices/%ZZ/approve', method: 'POST', body: '{}' },
      { path: '/keys/rotate', method: 'POST', body: '{"alg":"HS256"}' },
      { path: '/keys/rotate', method: 'POST', body: '{"graceMs":"soon"}' },
      { path: '/clock', method: 'POST', body: '{"advanceMs":"1h"}' },
      { path: '/clock', method: 'POST', body: '{"setMs":null}' },
      { path: '/faults', method: 'POST', body: '[]' },
      { path: '/nope', method: 'GET' },
    ]
    for (const c of cases) {
      const answer = await control(idp, c.path, {
        method: c.method,
        headers: json,
        ...(c.body !== undefined ? { body: c.body } : {}),
      })
      expect([
        c.method,
        c.path,
        c.body,
        answer.response.status >= 400 && answer.response.status < 500,
      ]).toEqual([c.method, c.path, c.body, true])
    }
  })
})

describe('control plane over a real socket', () => {
  it('serves loopback without a token, and refuses an Origin', async () => {
    await using server = await serve()
    expect(server.controlToken).toBeUndefined()
    const ok = await fetch(`${server.url}/_control/clock`)
    expect(ok.status).toBe(200)
    const evil = await fetch(`${server.url}/_control/users`, { headers: { origin: 'https://evil.example' } })
    expect(evil.status).toBe(403)
    expect(evil.headers.get('access-control-allow-origin')).toBeNull()
  })
})
