import { describe, expect, it } from 'vitest'
import { MockIdpError, serve } from '../src/index.ts'

describe('serve() over a real socket', () => {
  it('listens on loopback with the listening address as issuer, and answers a token request', async () => {
    const server = await serve({ clients: [{ clientId: 'svc', clientSecret: 'x' }] })
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(server.issuer).toBe(server.url)
      const doc = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as {
        token_endpoint: string
      }
      expect(doc.token_endpoint).toBe(`${server.url}/token`)
      const response = await fetch(doc.token_endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${btoa('svc:x')}`,
        },
        body: 'grant_type=client_credentials',
      })
      expect(response.status).toBe(200)
      expect(server.idp.control.journal.entries({ endpoint: 'token' })).toHaveLength(1)
    } finally {
      await server.close()
    }
  })

  it('refuses a taken port with ERR_PORT_IN_USE naming the port', async () => {
    const first = await serve()
    try {
      const port = Number(new URL(first.url).port)
      const error = await serve({ port }).then(
        async (s) => {
          await s.close()
          return undefined
        },
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(MockIdpError)
      expect((error as MockIdpError).code).toBe('ERR_PORT_IN_USE')
      expect((error as MockIdpError).message).toContain(String(port))
    } finally {
      await first.close()
    }
  })

  it('drops the connection when a fault says so', async () => {
    const server = await serve()
    try {
      server.idp.control.faults.inject({ endpoint: 'discovery', drop: true })
      await expect(
        fetch(`${server.url}/.well-known/openid-configuration`).then((r) => r.text()),
      ).rejects.toThrow()
      expect((await fetch(`${server.url}/.well-known/openid-configuration`)).status).toBe(200)
    } finally {
      await server.close()
    }
  })

  it('closes idempotently', async () => {
    const server = await serve()
    await server.close()
    await server.close()
    await expect(fetch(`${server.url}/jwks`)).rejects.toThrow()
  })

  it('refuses an invalid port', async () => {
    await expect(serve({ port: 70000 })).rejects.toThrow(MockIdpError)
  })
})
