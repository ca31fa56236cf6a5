/**
 * DPoP through the real gateway process: DPoP-bound tokens from the mock IdP (`cnf.jkt`), proofs
 * made here with jose, server nonces from a shared secret, `htu` on the configured public origin.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto'
import { request } from 'node:http'
import { type MockIdpServer, serve } from '@keyfob/mock-idp'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AUDIENCE, type LoopbackServer, openapiDocument, startServer, upstreamHandler } from './helpers.ts'
import { freePort, type Running, start, stop } from './spawn.ts'

const PUBLIC_ORIGIN = 'https://api.example'
const SECRET = 'a-shared-nonce-secret-of-at-least-32-characters'

let upstream: LoopbackServer
let idp: MockIdpServer
let gateway: Running
let key: { privateKey: CryptoKey; jwk: JWK; jkt: string }

beforeAll(async () => {
  upstream = await startServer(upstreamHandler)
  idp = await serve({
    clients: [{ clientId: 'svc', clientSecret: 'svc-secret-value' }],
    audience: AUDIENCE,
    scopes: ['openid', 'read'],
  })
  const pair = await generateKeyPair('ES256')
  const jwk = await exportJWK(pair.publicKey)
  key = { privateKey: pair.privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) }
  gateway = await start(
    [
      '--upstream',
      upstream.url,
      '--mount',
      '/geoapi',
      '--port',
      '0',
      '--jwt-issuer',
      idp.issuer,
      '--jwt-audience',
      AUDIENCE,
      '--resource',
      `${PUBLIC_ORIGIN}/geoapi`,
      '--dpop',
      '--dpop-nonce',
      '--public-origin',
      PUBLIC_ORIGIN,
    ],
    { KEYFOB_GUARD_DPOP_NONCE_SECRET: SECRET },
  )
}, 30_000)

afterAll(async () => {
  if (gateway) expect(await stop(gateway)).toBe(0)
  await Promise.all([upstream.close(), idp.close()])
})

/** A DPoP proof for `method` and `htu`, bound to `token` (`ath`), with the server's `nonce` if given. */
function proof(method: string, htu: string, token: string, nonce?: string): Promise<string> {
  return new SignJWT({
    htm: method,
    htu,
    jti: randomUUID(),
    ath: createHash('sha256').update(token).digest('base64url'),
    ...(nonce !== undefined ? { nonce } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .setIssuedAt()
    .sign(key.privateKey)
}

async function boundToken(): Promise<string> {
  return (await idp.idp.control.tokens.issue({ clientId: 'svc', scope: 'read', sub: 'alice', jkt: key.jkt }))
    .access_token
}

describe('keyfob-guard with --dpop --dpop-nonce --public-origin', () => {
  it('says so in the startup line', () => {
    expect(gateway.stderr()).toContain(`DPoP accepted with nonces (htu ${PUBLIC_ORIGIN})`)
  })

  it('answers use_dpop_nonce first, then forwards with the nonce; neither Authorization nor DPoP goes upstream', async () => {
    const token = await boundToken()
    const htu = `${PUBLIC_ORIGIN}/geoapi/echo`
    const first = await fetch(`${gateway.url}/geoapi/echo`, {
      headers: { authorization: `DPoP ${token}`, dpop: await proof('GET', htu, token) },
    })
    expect(first.status).toBe(401)
    expect(first.headers.get('www-authenticate')).toContain('use_dpop_nonce')
    const nonce = first.headers.get('dpop-nonce')
    expect(nonce).toBeTruthy()
    const second = await fetch(`${gateway.url}/geoapi/echo`, {
      headers: { authorization: `DPoP ${token}`, dpop: await proof('GET', htu, token, nonce as string) },
    })
    expect(second.status).toBe(200)
    const { headers } = (await second.json()) as { headers: Record<string, string> }
    expect(headers.authorization).toBeUndefined()
    expect(headers.dpop).toBeUndefined()
    expect(headers['x-auth-request-user']).toBe('alice')
  })

  it('hands the renewed nonce out on the successful answer to a proof with the previous one (RFC 9449 §8.2)', async () => {
    const token = await boundToken()
    const htu = `${PUBLIC_ORIGIN}/geoapi/echo`
    const current = (
      await fetch(`${gateway.url}/geoapi/echo`, {
        headers: { authorization: `DPoP ${token}`, dpop: await proof('GET', htu, token) },
      })
    ).headers.get('dpop-nonce')
    expect(current).toBeTruthy()
    // The nonce of the period before (stateless nonces: HMAC of the shared secret and the period
    // number, 300 s periods by default), as a client that fetched its nonce a while ago holds it.
    const period = Math.floor(Date.now() / 300_000)
    const previous = createHmac('sha256', SECRET)
      .update(`dpop-nonce.${period - 1}`)
      .digest('base64url')
    expect(previous).not.toBe(current)
    const answer = await fetch(`${gateway.url}/geoapi/echo`, {
      headers: { authorization: `DPoP ${token}`, dpop: await proof('GET', htu, token, previous) },
    })
    expect(answer.status).toBe(200)
    expect(answer.headers.get('dpop-nonce')).toBe(current)
    await answer.body?.cancel()
    // A proof with the current nonce needs no renewal.
    const fresh = await fetch(`${gateway.url}/geoapi/echo`, {
      headers: { authorization: `DPoP ${token}`, dpop: await proof('GET', htu, token, current as string) },
    })
    expect(fresh.status).toBe(200)
    expect(fresh.headers.get('dpop-nonce')).toBeNull()
    await fresh.body?.cancel()
  })

  it('refuses a proof for the listening URL instead of the public origin, a replayed proof and the bound token as Bearer', async () => {
    const token = await boundToken()
    const nonce = (
      await fetch(`${gateway.url}/geoapi/echo`, {
        headers: {
          authorization: `DPoP ${token}`,
          dpop: await proof('GET', `${PUBLIC_ORIGIN}/geoapi/echo`, token),
        },
      })
    ).headers.get('dpop-nonce') as string
    const local = await fetch(`${gateway.url}/geoapi/echo`, {
      headers: {
        authorization: `DPoP ${token}`,
        dpop: await proof('GET', `${gateway.url}/geoapi/echo`, token, nonce),
      },
    })
    expect(local.status).toBe(401)
    expect(local.headers.get('www-authenticate')).toContain('invalid_dpop_proof')
    const once = await proof('GET', `${PUBLIC_ORIGIN}/geoapi/echo`, token, nonce)
    const init = { headers: { authorization: `DPoP ${token}`, dpop: once } }
    expect((await fetch(`${gateway.url}/geoapi/echo`, init)).status).toBe(200)
    expect((await fetch(`${gateway.url}/geoapi/echo`, init)).status).toBe(401)
    const bearer = await fetch(`${gateway.url}/geoapi/echo`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(bearer.status).toBe(401)
  })

  it('advertises DPoP in the RFC 9728 metadata and the patched OpenAPI document', async () => {
    const metadata = (await (
      await fetch(`${gateway.url}/.well-known/oauth-protected-resource/geoapi`)
    ).json()) as Record<string, unknown>
    expect(metadata.dpop_bound_access_tokens_required).toBe(false)
    expect(metadata.dpop_signing_alg_values_supported).toContain('ES256')
    const doc = (await (await fetch(`${gateway.url}/geoapi/openapi?f=json`)).json()) as {
      components: { securitySchemes: Record<string, { type: string; scheme?: string }> }
      paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>
    }
    expect(doc.components.securitySchemes.DPoP).toMatchObject({ type: 'http', scheme: 'DPoP' })
    expect(doc.components.securitySchemes.BearerJWT).toMatchObject({ type: 'http', scheme: 'bearer' })
    const protectedPath = Object.keys(openapiDocument().paths as Record<string, unknown>).find((p) =>
      p.startsWith('/collections'),
    ) as string
    expect(doc.paths[protectedPath]?.get?.security).toContainEqual({ DPoP: [] })
  })
})

describe('keyfob-guard --workers 2 --dpop-nonce without a configured secret', () => {
  it('the workers accept each other’s nonces (the primary hands them one secret)', async () => {
    const port = await freePort()
    const running = await start([
      '--upstream',
      upstream.url,
      '--port',
      String(port),
      '--jwt-issuer',
      idp.issuer,
      '--jwt-audience',
      AUDIENCE,
      '--dpop',
      '--dpop-nonce',
      '--workers',
      '2',
    ])
    try {
      const token = await boundToken()
      /** One request on a new connection (node:cluster hands connections to the workers in turn). */
      const once = async (nonce?: string) => {
        const htu = `http://127.0.0.1:${port}/echo`
        const dpop = await proof('GET', htu, token, nonce)
        return new Promise<{ status: number; nonce: string | undefined }>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port,
              path: '/echo',
              agent: false,
              headers: { authorization: `DPoP ${token}`, dpop },
            },
            (res) => {
              res.resume()
              res.on('end', () =>
                resolve({
                  status: res.statusCode ?? 0,
                  nonce: res.headers['dpop-nonce'] as string | undefined,
                }),
              )
            },
          )
          req.on('error', reject)
          req.end()
        })
      }
      // Workers come up after the primary's line: retry briefly (bounded) until one answers.
      let first: { status: number; nonce: string | undefined } | undefined
      for (let i = 0; i < 50 && first?.status !== 401; i++) {
        first = await once().catch(() => undefined)
        if (first?.status !== 401) await new Promise((r) => setTimeout(r, 100))
      }
      expect(first?.status).toBe(401)
      const nonce = first?.nonce as string
      const statuses: number[] = []
      for (let i = 0; i < 8; i++) statuses.push((await once(nonce)).status)
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200])
    } finally {
      expect(await stop(running)).toBe(0)
    }
  }, 30_000)
})
