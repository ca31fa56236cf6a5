/**
 * Interop: openid-client (an OpenID-certified relying party library, independent of keyfob)
 * drives the mock IdP with ID-token signature checks and JWT access-token validation on.
 */
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import { describe, expect, it } from 'vitest'
import { createMockIdp, type MockIdp } from '../src/index.ts'

async function setup(options: { clientSecret?: string; clientId?: string } = {}) {
  const idp = await createMockIdp({
    deviceIntervalS: 1,
    audience: 'https://api.example',
    clients: [
      { clientId: 'cli', redirectUris: ['http://127.0.0.1/callback'] },
      { clientId: 'svc', clientSecret: 'svc-secret' },
    ],
  })
  const auth = options.clientSecret ? client.ClientSecretBasic(options.clientSecret) : client.None()
  const config = await client.discovery(new URL(idp.issuer), options.clientId ?? 'cli', undefined, auth, {
    [client.customFetch]: idp.fetch,
  })
  config[client.customFetch] = idp.fetch
  client.enableNonRepudiationChecks(config) // verify ID token signatures against JWKS
  return { idp, config }
}

async function validateAccessToken(idp: MockIdp, accessToken: string) {
  const as = await oauth.processDiscoveryResponse(
    new URL(idp.issuer),
    await oauth.discoveryRequest(new URL(idp.issuer), { [oauth.customFetch]: idp.fetch }),
  )
  const request = new Request('https://api.example/things', {
    headers: { authorization: `Bearer ${accessToken}` },
  })
  return oauth.validateJwtAccessToken(as, request, 'https://api.example', { [oauth.customFetch]: idp.fetch })
}

describe('interop with openid-client', () => {
  it('authorization code + PKCE with nonce, ID token signature, userinfo and RFC 9068 access token', async () => {
    const { idp, config } = await setup()
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const nonce = client.randomNonce()
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:43123/callback',
      scope: 'openid profile email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    })
    const redirect = await idp.fetch(url, { redirect: 'manual' })
    const tokens = await client.authorizationCodeGrant(
      config,
      new URL(redirect.headers.get('location') ?? ''),
      {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      },
    )
    expect(tokens.claims()).toMatchObject({ sub: 'alice', nonce, email: 'alice@example.com' })
    expect(tokens.refresh_token).toBeTruthy()
    const info = await client.fetchUserInfo(config, tokens.access_token, 'alice')
    expect(info.name).toBe('Alice Example')
    const claims = await validateAccessToken(idp, tokens.access_token)
    expect(claims).toMatchObject({ sub: 'alice', client_id: 'cli', aud: 'https://api.example' })

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? '')
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
    expect(refreshed.claims()?.sub).toBe('alice')
  })

  it('device authorization grant, approved through the control plane', async () => {
    const { idp, config } = await setup()
    const response = await client.initiateDeviceAuthorization(config, { scope: 'openid' })
    idp.control.devices.approve(response.user_code)
    const tokens = await client.pollDeviceAuthorizationGrant(config, response)
    expect(tokens.claims()?.sub).toBe('alice')
  })

  it('client credentials with client_secret_basic, introspection and revocation', async () => {
    const { idp, config } = await setup({ clientId: 'svc', clientSecret: 'svc-secret' })
    const tokens = await client.clientCredentialsGrant(config, { scope: 'profile' })
    expect(await validateAccessToken(idp, tokens.access_token)).toMatchObject({
      sub: 'svc',
      scope: 'profile',
    })
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).toBe(true)
    await client.tokenRevocation(config, tokens.access_token)
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).toBe(false)
  })

  it('surfaces the mock IdP errors as openid-client errors with the OAuth code', async () => {
    const { config } = await setup({ clientId: 'svc', clientSecret: 'wrong' })
    const error = await client.clientCredentialsGrant(config).then(
      () => undefined,
      (e: unknown) => e,
    )
    // RFC 6749 §5.2: a 401 invalid_client carries a challenge, which openid-client reports first.
    expect(error).toBeInstanceOf(client.WWWAuthenticateChallengeError)
    const challenge = error as client.WWWAuthenticateChallengeError
    expect(challenge.status).toBe(401)
    expect(challenge.cause[0]?.scheme).toBe('basic')
    expect(await challenge.response.json()).toMatchObject({ error: 'invalid_client' })
  })
})
