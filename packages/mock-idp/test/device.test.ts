import { describe, expect, it } from 'vitest'
import { MockIdpError } from '../src/index.ts'
import { idpWith, pkce, post, postJson } from './helpers.ts'

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

async function startDevice() {
  const idp = await idpWith()
  idp.control.clock.freeze()
  const { status, body } = await postJson(idp, '/device_authorization', {
    client_id: 'cli',
    scope: 'openid offline_access',
  })
  expect(status).toBe(200)
  const poll = () =>
    postJson(idp, '/token', {
      grant_type: DEVICE_GRANT,
      client_id: 'cli',
      device_code: String(body.device_code),
    })
  return { idp, body, poll }
}

describe('device authorization grant (RFC 8628)', () => {
  it('answers the device authorization request per §3.2', async () => {
    const { idp, body } = await startDevice()
    expect(body).toMatchObject({
      verification_uri: `${idp.issuer}/device`,
      expires_in: 600,
      interval: 5,
    })
    expect(String(body.user_code)).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    expect(body.verification_uri_complete).toBe(`${idp.issuer}/device?user_code=${body.user_code}`)
  })

  it('polls pending, slows down a fast poller by 5 s each time, then issues tokens once approved', async () => {
    const { idp, body, poll } = await startDevice()
    expect((await poll()).body.error).toBe('authorization_pending')
    idp.control.clock.advance(1_000)
    expect((await poll()).body.error).toBe('slow_down')
    expect(idp.control.devices.list()[0]?.intervalS).toBe(10)
    idp.control.clock.advance(9_000)
    expect((await poll()).body.error).toBe('slow_down')
    expect(idp.control.devices.list()[0]?.intervalS).toBe(15)
    idp.control.clock.advance(15_000)
    expect((await poll()).body.error).toBe('authorization_pending')
    const pending = idp.control.devices.latestPending()
    expect(pending?.userCode).toBe(body.user_code)
    idp.control.devices.approve(String(body.user_code))
    idp.control.clock.advance(15_000)
    const done = await poll()
    expect(done.status).toBe(200)
    expect(typeof done.body.refresh_token).toBe('string')
    expect(typeof done.body.id_token).toBe('string')
    idp.control.clock.advance(15_000)
    expect((await poll()).body.error).toBe('invalid_grant') // a device code is single-use
    expect(idp.control.devices.list()[0]?.status).toBe('consumed')
  })

  it('checks PKCE at every poll when the device authorization request had a challenge', async () => {
    const idp = await idpWith()
    const { verifier, challenge } = await pkce()
    const started = await postJson(idp, '/device_authorization', {
      client_id: 'cli',
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })
    expect(started.status).toBe(200)
    const deviceCode = String(started.body.device_code)
    idp.control.devices.approve(String(started.body.user_code))
    const poll = (extra: Record<string, string>) =>
      postJson(idp, '/token', {
        grant_type: DEVICE_GRANT,
        client_id: 'cli',
        device_code: deviceCode,
        ...extra,
      })
    const missing = await poll({})
    expect(missing.body).toMatchObject({ error: 'invalid_grant' })
    expect(String(missing.body.error_description)).toContain('code_verifier is missing')
    const wrong = await poll({ code_verifier: (await pkce()).verifier })
    expect(String(wrong.body.error_description)).toContain('does not match')
    idp.control.clock.advance(60_000)
    expect((await poll({ code_verifier: verifier })).status).toBe(200)

    // Without a challenge, a verifier is refused; plain is refused; a client may require PKCE.
    const bare = await postJson(idp, '/device_authorization', { client_id: 'cli', scope: 'openid' })
    const stray = await postJson(idp, '/token', {
      grant_type: DEVICE_GRANT,
      client_id: 'cli',
      device_code: String(bare.body.device_code),
      code_verifier: verifier,
    })
    expect(String(stray.body.error_description)).toContain('had no code_challenge')
    const plain = await postJson(idp, '/device_authorization', {
      client_id: 'cli',
      code_challenge: challenge,
      code_challenge_method: 'plain',
    })
    expect(plain.body).toMatchObject({ error: 'invalid_request' })
    idp.control.clients.add({ clientId: 'strict', grantTypes: [DEVICE_GRANT], requirePkce: true })
    const refused = await postJson(idp, '/device_authorization', { client_id: 'strict' })
    expect(String(refused.body.error_description)).toContain('must use PKCE')
  })

  it('answers access_denied after a deny and expired_token after expiry', async () => {
    const denied = await startDevice()
    denied.idp.control.devices.deny(String(denied.body.user_code))
    expect((await denied.poll()).body.error).toBe('access_denied')

    const expired = await startDevice()
    expired.idp.control.clock.advance(601_000)
    expect((await expired.poll()).body.error).toBe('expired_token')

    const forced = await startDevice()
    forced.idp.control.devices.expire(String(forced.body.user_code))
    expect((await forced.poll()).body.error).toBe('expired_token')
  })

  it('refuses device codes of other clients and unknown device codes', async () => {
    const { idp, body } = await startDevice()
    const other = await postJson(
      idp,
      '/token',
      { grant_type: DEVICE_GRANT, device_code: String(body.device_code) },
      {
        authorization: `Basic ${btoa('svc:s3cret-value')}`,
      },
    )
    expect(other.body.error).toBe('invalid_grant')
    const unknown = await postJson(idp, '/token', {
      grant_type: DEVICE_GRANT,
      client_id: 'cli',
      device_code: 'nope',
    })
    expect(unknown.body.error).toBe('invalid_grant')
  })

  it('control errors are typed', async () => {
    const { idp, body } = await startDevice()
    expect(() => idp.control.devices.approve('ZZZZ-ZZZZ')).toThrow(MockIdpError)
    idp.control.devices.deny(String(body.user_code))
    try {
      idp.control.devices.approve(String(body.user_code))
      throw new Error('expected a throw')
    } catch (error) {
      expect((error as MockIdpError).code).toBe('ERR_DEVICE_CODE_STATE')
    }
  })

  it('lets a person approve on the verification page with a typed code', async () => {
    const { idp, body, poll } = await startDevice()
    const page = await idp.fetch(String(body.verification_uri_complete))
    expect(page.status).toBe(200)
    expect(await page.text()).toContain(String(body.user_code))
    const bad = await post(idp, '/device', {
      user_code: 'BCDF-GHJK',
      username: 'alice',
      password: 'alice',
      action: 'approve',
    })
    expect(bad.status).toBe(400)
    const wrongPassword = await post(idp, '/device', {
      user_code: String(body.user_code),
      username: 'alice',
      password: 'x',
      action: 'approve',
    })
    expect(await wrongPassword.text()).toContain('Wrong username or password')
    const typed = String(body.user_code).toLowerCase().replace('-', ' ')
    const ok = await post(idp, '/device', {
      user_code: typed,
      username: 'alice',
      password: 'alice',
      action: 'approve',
    })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toContain('connected')
    expect((await poll()).status).toBe(200)
  })

  it('lets only a signed-in person deny on the verification page', async () => {
    const { idp, body, poll } = await startDevice()
    const anonymous = await post(idp, '/device', { user_code: String(body.user_code), action: 'deny' })
    expect(anonymous.status).toBe(400)
    expect(await anonymous.text()).toContain('Wrong username or password')
    expect(idp.control.devices.list()[0]?.status).toBe('pending')
    const denied = await post(idp, '/device', {
      user_code: String(body.user_code),
      username: 'alice',
      password: 'alice',
      action: 'deny',
    })
    expect(denied.status).toBe(200)
    expect((await poll()).body.error).toBe('access_denied')
  })

  it('refuses clients that may not use the grant', async () => {
    const idp = await idpWith()
    idp.control.clients.add({
      clientId: 'codeonly',
      redirectUris: ['https://a.example/cb'],
      grantTypes: ['authorization_code'],
    })
    const { status, body } = await postJson(idp, '/device_authorization', { client_id: 'codeonly' })
    expect(status).toBe(400)
    expect(body.error).toBe('unauthorized_client')
  })
})
