/**
 * Interop with a certified OpenID provider: the drivers and the session against `oidc-provider`
 * over real loopback HTTP. A person's part (login form, consent, device code entry) is played by
 * a small cookie-keeping form filler, through the provider's own development pages.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TokenRecord, TokenStore } from '@keyfob/core'
import { tokenKeyId, updateUnderLock } from '@keyfob/core'
import Provider from 'oidc-provider'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserLogin, clientCredentials, deviceLogin, refreshTokens, Session } from '../src/index.ts'
import { person } from './oidc-provider-person.ts'

let server: Server
let issuer: string
const tokenRequests: string[] = []

beforeAll(async () => {
  server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'cli',
        // RFC 8252 §7.3: a native client's loopback redirect may use any port.
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
      },
      {
        client_id: 'svc',
        client_secret: 'svc-secret-with-enough-entropy',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
    },
    scopes: ['openid', 'offline_access', 'api'],
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  })
  provider.on('grant.success', (ctx) => tokenRequests.push(String(ctx.oidc.params?.grant_type)))
  server.on('request', provider.callback())
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

describe('flows against oidc-provider', () => {
  it('code + PKCE through the loopback redirect, then a refresh', async () => {
    const alice = person({ login: 'alice', password: 'any' })
    const tokens = await browserLogin({
      issuer,
      client: { clientId: 'cli' },
      scope: 'openid offline_access',
      authorizationParameters: { prompt: 'consent' },
      onUrl: () => {},
      openBrowser: async (url) => {
        void alice.walk(url)
        return true
      },
    })
    expect(tokens.accessToken).toBeTruthy()
    expect(tokens.record.idToken).toBeTruthy()
    expect(tokens.refreshToken).toBeTruthy()
    const next = await refreshTokens({ issuer, client: { clientId: 'cli' }, record: tokens.record })
    expect(next.accessToken).not.toBe(tokens.accessToken)
    expect(tokenRequests).toContain('authorization_code')
    expect(tokenRequests).toContain('refresh_token')
  }, 20_000)

  it('device authorization, approved through the provider pages', async () => {
    const tokens = await deviceLogin({
      issuer,
      client: { clientId: 'cli' },
      scope: 'openid offline_access',
      display: ({ verificationUriComplete, verificationUri, userCode }) => {
        void person({ login: 'bob', password: 'any', user_code: userCode }).walk(
          verificationUriComplete ?? verificationUri,
        )
      },
    })
    expect(tokens.accessToken).toBeTruthy()
    expect(tokens.refreshToken).toBeTruthy()
    expect(tokenRequests).toContain('urn:ietf:params:oauth:grant-type:device_code')
  }, 30_000)

  it('client credentials', async () => {
    const tokens = await clientCredentials({
      issuer,
      client: { clientId: 'svc', clientSecret: 'svc-secret-with-enough-entropy' },
    })
    expect(tokens.accessToken).toBeTruthy()
    expect(tokens.refreshToken).toBeUndefined()
  })

  it('a Session refreshes from a stored refresh token and logs out with revocation', async () => {
    const carol = person({ login: 'carol', password: 'any' })
    const first = await browserLogin({
      issuer,
      client: { clientId: 'cli' },
      scope: 'openid offline_access',
      authorizationParameters: { prompt: 'consent' },
      onUrl: () => {},
      openBrowser: async (url) => {
        void carol.walk(url)
        return true
      },
    })
    const records = new Map<string, TokenRecord>()
    const store: TokenStore = {
      kind: 'memory',
      get: async (key) => records.get(tokenKeyId(key)),
      set: async (key, record) => void records.set(tokenKeyId(key), record),
      delete: async (key) => records.delete(tokenKeyId(key)),
      list: async () => [],
      lock: (_key, fn) => fn(),
      update: (key, fn) => updateUnderLock(store, key, fn),
    }
    const session = new Session({ issuer, client: { clientId: 'cli' }, store })
    // Stored as expired: the session must refresh, not log in.
    await store.set(session.key, { ...first.record, expiresAt: Date.now() - 1 })
    const token = await session.accessToken()
    expect(token).not.toBe(first.accessToken)
    expect(await session.logout()).toEqual({
      revoked: true,
      removed: true,
      tokens: [
        { token: 'refresh_token', outcome: 'revoked' },
        { token: 'access_token', outcome: 'revoked' },
      ],
    })
    expect(await store.get(session.key)).toBeUndefined()
    // oidc-provider revoked the grant: the refresh token no longer works.
    await expect(
      refreshTokens({ issuer, client: { clientId: 'cli' }, record: first.record }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_GRANT' })
  }, 20_000)
})
