/**
 * Node only: raw HTTP requests whose Host header a `fetch` would not let us forge, and a bind
 * beyond loopback (connected to over 127.0.0.1 only).
 */
import { request } from 'node:http'
import { describe, expect, it } from 'vitest'
import { serve } from '../src/index.ts'

function rawGet(port: number, path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.once('error', reject)
    req.end()
  })
}

describe('control plane on a real socket', () => {
  it('refuses Host: attacker.example (DNS rebinding) and answers Host: 127.0.0.1', async () => {
    await using server = await serve()
    const port = Number(new URL(server.url).port)
    const rebound = await rawGet(port, '/_control/users', { host: `attacker.example:${port}` })
    expect(rebound.status).toBe(403)
    expect(rebound.body).toContain('ERR_CONTROL_FORBIDDEN')
    expect(rebound.body).not.toContain('"password"')
    const local = await rawGet(port, '/_control/users', { host: `127.0.0.1:${port}` })
    expect(local.status).toBe(200)
    // The OAuth endpoints do not care about Host.
    expect((await rawGet(port, '/jwks', { host: `attacker.example:${port}` })).status).toBe(200)
  })

  it('binding beyond loopback warns, generates keys and a control token', async () => {
    const warnings: string[] = []
    await using server = await serve({ hostname: '0.0.0.0', warn: (m) => warnings.push(m) })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('beyond loopback')
    expect(warnings[0]).toContain('freshly generated')
    const token = server.controlToken ?? ''
    expect(token.length).toBeGreaterThanOrEqual(32)
    expect(warnings[0]).not.toContain(token)
    const port = Number(new URL(server.url).port)
    const bundled = await serve({ warn: () => {} })
    const bundledKid = bundled.idp.control.keys.list()[0]?.kid
    await bundled.close()
    expect(server.idp.control.keys.list()[0]?.kid).not.toBe(bundledKid)
    const anonymous = await rawGet(port, '/_control/users', { host: `127.0.0.1:${port}` })
    expect(anonymous.status).toBe(401)
    const withToken = await rawGet(port, '/_control/users', {
      host: `192.0.2.10:${port}`,
      authorization: `Bearer ${token}`,
    })
    expect(withToken.status).toBe(200)
  })
})
