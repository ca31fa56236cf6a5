/**
 * Interop over real loopback HTTP: openid-client v6 (independent of keyfob, OpenID-certified)
 * drives the mock IdP with DPoP (RFC 9449, nonces included), PAR (RFC 9126) and resource
 * indicators (RFC 8707), and uses the DPoP-bound token at userinfo.
 */
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MockIdpServer, serve } from '../src/index.ts'
import { decodeJwt } from './helpers.ts'

const REDIRECT = 'http://127.0.0.1:43123/callback'
const API = 'https://api.example/'
const FILES = 'https://files.example/'

let server: MockIdpServer

beforeAll(async () => {
  server = await serve({
    // openid-client waits one interval before its first poll.
    deviceIntervalS: 0.05,
    clients: [
      { clientId: 'cli', redirectUris: [REDIRECT] },
      { clientId: 'svc', clientSecret: 'svc-secret' },
      { clientId: 'pushy', redirectUris: [REDIRECT], requirePushedAuthorizationRequests: true },
    ],
  })
})

afterAll(async () => {
  await server?.close()
})

async function configFor(clientId: string, secret?: string): Promise<client.Configuration> {
  const config = await client.discovery(
    new URL(server.issuer),
    clientId,
    undefined,
    secret === undefined ? client.None() : client.ClientSecretBasic(secret),
    { execute: [client.allowInsecureRequests] },
  )
  client.enableNonRepudiationChecks(config)
  return config
}

/** Follows the authorization URL over HTTP (headless login) and answers the redirect. */
async function follow(url: URL): Promise<URL> {
  const response = await fetch(url, { redirect: 'manual' })
  await response.body?.cancel()
  const location = response.headers.get('location')
  if (response.status !== 302 || location === null) throw new Error(`authorize answered ${response.status}`)
  return new URL(location)
}

describe('openid-client against the mock IdP over HTTP', () => {
  it('DPoP + PAR + resource: code flow, userinfo with a proof, refresh with the same key', async () => {
    const config = await configFor('pushy')
    const keyPair = await client.randomDPoPKeyPair('ES256')
    const DPoP = client.getDPoPHandle(config, keyPair)
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const params = new URLSearchParams({
      redirect_uri: REDIRECT,
      scope: 'openid profile offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    })
    params.append('resource', API)
    params.append('resource', FILES)
    // The client must push (requirePushedAuthorizationRequests), and its push carries a proof.
    const url = await client.buildAuthorizationUrlWithPAR(config, params, { DPoP })
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)
    const tokens = await client.authorizationCodeGrant(
      config,
      await follow(url),
      { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true },
      undefined,
      { DPoP },
    )
    expect(tokens.token_type).toBe('dpop')
    const claims = decodeJwt(tokens.access_token).payload
    expect(claims.aud).toEqual([API, FILES])
    expect((claims.cnf as { jkt: string }).jkt).toBe(
      server.idp.control.journal.entries({ endpoint: 'token' }).at(-1)?.dpop?.jkt,
    )
    const info = await client.fetchUserInfo(config, tokens.access_token, 'alice', { DPoP })
    expect(info.sub).toBe('alice')

    const refreshed = await client.refreshTokenGrant(
      config,
      tokens.refresh_token ?? '',
      new URLSearchParams({ resource: API }),
      { DPoP },
    )
    expect(refreshed.token_type).toBe('dpop')
    expect(decodeJwt(refreshed.access_token).payload.aud).toBe(API)

    // Another key cannot refresh a public client's key-bound refresh token.
    const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
    const stolen = await client
      .refreshTokenGrant(config, refreshed.refresh_token ?? '', undefined, { DPoP: thief })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(stolen).toBeInstanceOf(client.ResponseBodyError)
    expect((stolen as client.ResponseBodyError).error).toBe('invalid_grant')
  })

  it('retries once on use_dpop_nonce and then keeps the nonce (client credentials)', async () => {
    const config = await configFor('svc', 'svc-secret')
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('EdDSA'))
    server.idp.control.dpop.requireNonce(true)
    try {
      const since = server.idp.control.journal.entries().at(-1)?.seq ?? 0
      const first = await client.clientCredentialsGrant(config, { resource: API }, { DPoP })
      expect(first.token_type).toBe('dpop')
      expect(decodeJwt(first.access_token).payload.aud).toBe(API)
      const second = await client.clientCredentialsGrant(config, undefined, { DPoP })
      expect(second.token_type).toBe('dpop')
      const errors = server.idp.control.journal
        .entries({ endpoint: 'token', sinceSeq: since })
        .map((e) => e.error ?? e.status)
      // One use_dpop_nonce, then the client sends the nonce it was given every time.
      expect(errors).toEqual(['use_dpop_nonce', 200, 200])
    } finally {
      server.idp.control.dpop.requireNonce(undefined)
    }
  })

  it('device flow with DPoP, and a push that learns the nonce before the code exchange', async () => {
    const config = await configFor('cli')
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('PS256'))
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid', resource: API })
    server.idp.control.devices.approve(started.user_code)
    const device = await client.pollDeviceAuthorizationGrant(config, started, undefined, { DPoP })
    expect(device.token_type).toBe('dpop')
    expect(decodeJwt(device.access_token).payload.aud).toBe(API)

    server.idp.control.dpop.requireNonce(true)
    try {
      const since = server.idp.control.journal.entries().at(-1)?.seq ?? 0
      const verifier = client.randomPKCECodeVerifier()
      const url = await client.buildAuthorizationUrlWithPAR(
        config,
        {
          redirect_uri: REDIRECT,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        },
        { DPoP },
      )
      const tokens = await client.authorizationCodeGrant(
        config,
        await follow(url),
        { pkceCodeVerifier: verifier },
        undefined,
        { DPoP },
      )
      expect(tokens.token_type).toBe('dpop')
      const seen = server.idp.control.journal
        .entries({ sinceSeq: since })
        .filter((e) => e.dpop !== undefined)
        .map((e) => `${e.endpoint} ${e.error ?? e.status}`)
      expect(seen).toEqual(['par use_dpop_nonce', 'par 201', 'token 200'])
    } finally {
      server.idp.control.dpop.requireNonce(undefined)
    }
  })

  it('gets invalid_target for a resource the client may not ask for', async () => {
    server.idp.control.clients.add({ clientId: 'narrow', clientSecret: 'narrow-secret', resources: [API] })
    const config = await configFor('narrow', 'narrow-secret')
    const refused = await client.clientCredentialsGrant(config, { resource: FILES }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((refused as client.ResponseBodyError).error).toBe('invalid_target')
  })
})
