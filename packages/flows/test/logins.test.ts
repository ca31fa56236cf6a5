/** Resolving and describing stored logins: the decisions every front end shares. */
import type { KeyfobConfig, TokenKey, TokenRecord, TokenStore } from '@keyfob/core'
import { describe, expect, it } from 'vitest'
import {
  accountOf,
  clientOf,
  LOGIN_GRANTS,
  loginStatus,
  providerIdsOf,
  renewsByClientCredentials,
  resolveLogin,
  tokenKeyOf,
  unverifiedClaims,
} from '../src/index.ts'
import { codeOf } from './helpers.ts'

const EGI = 'https://aai.egi.test/realms/egi'
const config: KeyfobConfig = {
  version: 1,
  providers: {
    egi: {
      issuer: EGI,
      client: { clientId: 'cli', clientSecret: 's' },
      defaultClients: [
        { clientId: 'default-dev', grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] },
      ],
    },
    egi2: { issuer: EGI, client: { clientId: 'other' } },
    plain: { issuer: 'https://plain.test' },
  },
  apis: {},
  defaultProvider: 'egi',
}

function storeWith(keys: TokenKey[]): TokenStore {
  const record: TokenRecord = { accessToken: 'at', updatedAt: 0 }
  const store: Pick<TokenStore, 'kind' | 'list'> = {
    kind: 'memory',
    list: async () => keys.map((key) => ({ key, record })),
  }
  // resolveLogin only lists.
  return store as TokenStore
}

/** A JWT-shaped string with these claims (unsigned: only the payload matters here). */
const jwt = (claims: Record<string, unknown>) =>
  `e30.${btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(claims))))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')}.sig`

describe('resolveLogin', () => {
  it('takes the named client, else the configured client', async () => {
    const empty = storeWith([])
    expect((await resolveLogin(config, empty, { clientId: 'x' })).key).toEqual({ issuer: EGI, clientId: 'x' })
    const login = await resolveLogin(config, empty, {})
    expect(login.key).toEqual({ issuer: EGI, clientId: 'cli' })
    expect(login.client).toEqual({ clientId: 'cli', clientSecret: 's' })
    expect(login.providerId).toBe('egi')
  })

  it("finds the account's one login made with another client", async () => {
    const login = await resolveLogin(config, storeWith([{ issuer: EGI, clientId: 'default-dev' }]), {})
    expect(login.key.clientId).toBe('default-dev')
    expect(login.client.grantTypes).toEqual(['urn:ietf:params:oauth:grant-type:device_code'])
  })

  it('asks for --client-id when an account has several logins and none is the configured client', async () => {
    const store = storeWith([
      { issuer: 'https://plain.test', clientId: 'a' },
      { issuer: 'https://plain.test', clientId: 'b' },
    ])
    expect(await codeOf(resolveLogin(config, store, { providerId: 'plain' }))).toBe('ERR_LOGIN_REQUIRED')
    expect(await codeOf(resolveLogin(config, storeWith([]), { providerId: 'plain' }))).toBe(
      'ERR_LOGIN_REQUIRED',
    )
    expect(await codeOf(resolveLogin(config, storeWith([]), { providerId: 'nope' }))).toBe(
      'ERR_UNKNOWN_PROVIDER',
    )
  })

  it('keeps accounts apart', async () => {
    const store = storeWith([{ issuer: 'https://plain.test', clientId: 'a', account: 'work' }])
    expect((await resolveLogin(config, store, { providerId: 'plain', account: 'work' })).key).toEqual(
      tokenKeyOf('https://plain.test', 'a', 'work'),
    )
    expect(accountOf({ account: 'default' }, { ...config, defaultAccount: 'work' })).toBeUndefined()
    expect(accountOf({}, { ...config, defaultAccount: 'work' })).toBe('work')
  })
})

describe('describing a login', () => {
  it('names the providers that use its client, else every one at its issuer', () => {
    expect(providerIdsOf(config, { issuer: EGI, clientId: 'other' })).toEqual(['egi2'])
    expect(providerIdsOf(config, { issuer: EGI, clientId: 'unknown' })).toEqual(['egi', 'egi2'])
    expect(clientOf(config.providers.egi, 'default-dev').grantTypes).toHaveLength(1)
    expect(clientOf(undefined, 'x')).toEqual({ clientId: 'x' })
  })

  it('loginStatus: who, until when, usable or not, no secret', () => {
    const record: TokenRecord = {
      accessToken: 'secret-at',
      expiresAt: 2_000_000,
      refreshToken: 'secret-rt',
      idToken: jwt({ sub: 'u1', name: 'Zoë Ærø' }),
      scope: 'openid',
      updatedAt: 1_000_000,
    }
    const status = loginStatus({ issuer: EGI, clientId: 'cli' }, record, config, 1_500_000)
    expect(status).toEqual({
      issuer: EGI,
      providerIds: ['egi'],
      clientId: 'cli',
      account: null,
      subject: 'u1',
      name: 'Zoë Ærø',
      scope: 'openid',
      accessToken: {
        present: true,
        expiresAt: new Date(2_000_000).toISOString(),
        expiresInSeconds: 500,
        valid: true,
      },
      refreshToken: { present: true, expiresAt: null },
      usable: true,
      dpop: null,
      updatedAt: new Date(1_000_000).toISOString(),
    })
    expect(
      loginStatus(
        { issuer: EGI, clientId: 'cli' },
        { ...record, dpopKey: { alg: 'ES256', jwk: { kty: 'EC', d: 'secret-d' } } },
        config,
        1_500_000,
      ).dpop,
    ).toEqual({ alg: 'ES256' })
    expect(JSON.stringify(status)).not.toContain('secret')
    const expired = loginStatus(
      { issuer: EGI, clientId: 'cli' },
      { accessToken: 'x', expiresAt: 1, refreshToken: 'r', refreshExpiresAt: 2, updatedAt: 0 },
      config,
      10,
    )
    expect([expired.accessToken.valid, expired.usable]).toEqual([false, false])
    expect(unverifiedClaims('not-a-jwt')).toBeUndefined()
    expect(unverifiedClaims(`e30.${btoa('[1]')}.x`)).toBeUndefined()
  })

  it('renews by client credentials only a login that has no user and no refresh token', () => {
    const client = { clientId: 'svc', clientSecret: 's' }
    expect(renewsByClientCredentials({ accessToken: 'a', updatedAt: 0 }, client)).toBe(true)
    expect(renewsByClientCredentials({ accessToken: 'a', refreshToken: 'r', updatedAt: 0 }, client)).toBe(
      false,
    )
    expect(renewsByClientCredentials({ accessToken: 'a', idToken: 'i', updatedAt: 0 }, client)).toBe(false)
    expect(renewsByClientCredentials({ accessToken: 'a', updatedAt: 0 }, { clientId: 'public' })).toBe(false)
    expect(renewsByClientCredentials(undefined, client)).toBe(false)
    expect(LOGIN_GRANTS.browser).toBe('authorization_code')
  })
})
