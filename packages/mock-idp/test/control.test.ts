import { createLocalJWKSet, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { createMockIdp } from '../src/index.ts'
import { basic, codeLogin, decodeJwt, idpWith, post, postJson, SERVICE } from './helpers.ts'

const SVC = { authorization: basic('svc', 's3cret-value') }
const cc = (idp: Awaited<ReturnType<typeof idpWith>>) =>
  post(idp, '/token', { grant_type: 'client_credentials' }, SVC)

describe('control plane: clock', () => {
  it('moves every expiry: tokens issued before an advance are expired after it', async () => {
    const idp = await idpWith()
    const { body } = await postJson(idp, '/token', { grant_type: 'client_credentials' }, SVC)
    expect((await postJson(idp, '/introspect', { token: String(body.access_token) }, SVC)).body.active).toBe(
      true,
    )
    idp.control.clock.advance(3_600_000)
    expect((await postJson(idp, '/introspect', { token: String(body.access_token) }, SVC)).body.active).toBe(
      false,
    )
  })

  it('sets, freezes and stamps iat from the mock clock', async () => {
    const idp = await idpWith()
    idp.control.clock.set(Date.UTC(2030, 0, 1))
    idp.control.clock.freeze()
    const { body } = await postJson(idp, '/token', { grant_type: 'client_credentials' }, SVC)
    expect(decodeJwt(String(body.access_token)).payload.iat).toBe(Date.UTC(2030, 0, 1) / 1000)
    expect(() => idp.control.clock.advance(Number.NaN)).toThrow(TypeError)
  })
})

describe('control plane: keys', () => {
  it('rotates keys, keeping the old key in JWKS for the grace period', async () => {
    const idp = await idpWith()
    const before = (await (await cc(idp)).json()) as { access_token: string }
    const oldKid = idp.control.keys.list()[0]?.kid
    const rotated = await idp.control.keys.rotate({ graceMs: 60_000 })
    expect(rotated.kid).not.toBe(oldKid)
    const jwks = async () =>
      (await (await idp.fetch(`${idp.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> }
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([oldKid, rotated.kid])
    const after = (await (await cc(idp)).json()) as { access_token: string }
    expect(decodeJwt(after.access_token).header.kid).toBe(rotated.kid)
    // both verify while the old key is published
    for (const token of [before.access_token, after.access_token]) {
      await jwtVerify(token, createLocalJWKSet((await jwks()) as never), { issuer: idp.issuer })
    }
    idp.control.clock.advance(60_001)
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([rotated.kid])
    expect((await postJson(idp, '/introspect', { token: before.access_token }, SVC)).body.active).toBe(false)
  })
})

describe('control plane: faults', () => {
  it('answers the next N calls with an injected OAuth error, then recovers', async () => {
    const idp = await idpWith()
    idp.control.faults.inject({ endpoint: 'token', status: 503, error: 'temporarily_unavailable', times: 2 })
    expect((await cc(idp)).status).toBe(503)
    const second = await cc(idp)
    expect(await second.json()).toMatchObject({ error: 'temporarily_unavailable' })
    expect((await cc(idp)).status).toBe(200)
    expect(idp.control.journal.entries({ endpoint: 'token' }).map((e) => e.fault === true)).toEqual([
      true,
      true,
      false,
    ])
  })

  it('can answer malformed JSON, an HTML error page, or drop the connection', async () => {
    const idp = await idpWith()
    idp.control.faults.inject({ endpoint: 'token', malformedJson: true })
    const malformed = await cc(idp)
    expect(malformed.status).toBe(200)
    await expect(malformed.json()).rejects.toThrow()
    idp.control.faults.inject({
      endpoint: 'discovery',
      status: 502,
      body: '<html><h1>Bad Gateway</h1></html>',
    })
    const html = await idp.fetch(`${idp.issuer}/.well-known/openid-configuration`)
    expect(html.status).toBe(502)
    expect(html.headers.get('content-type')).toContain('text/html')
    idp.control.faults.inject({ endpoint: '*', drop: true })
    await expect(cc(idp)).rejects.toThrow(TypeError)
    expect((await cc(idp)).status).toBe(200)
  })

  it('delays an endpoint without failing it', async () => {
    const idp = await idpWith()
    idp.control.faults.inject({ endpoint: 'token', delayMs: 30 })
    const started = performance.now()
    expect((await cc(idp)).status).toBe(200)
    expect(performance.now() - started).toBeGreaterThanOrEqual(25)
  })

  it('lets an abort signal cut a delayed answer short, as a real fetch would', async () => {
    const idp = await idpWith()
    idp.control.faults.inject({ endpoint: 'token', delayMs: 500 })
    const started = performance.now()
    const error = await idp
      .fetch(`${idp.issuer}/token`, { method: 'POST', signal: AbortSignal.timeout(20) })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect((error as Error).name).toBe('TimeoutError')
    expect(performance.now() - started).toBeLessThan(400)
  })

  it('refuses nonsense rules', async () => {
    const idp = await idpWith()
    expect(() => idp.control.faults.inject({ endpoint: 'token', times: 0 })).toThrow(TypeError)
    expect(() => idp.control.faults.inject({ endpoint: 'token', status: 99 })).toThrow(TypeError)
  })
})

describe('control plane: journal', () => {
  it('records endpoint, grant, client and params with every secret redacted', async () => {
    const idp = await idpWith()
    await post(idp, '/token', {
      grant_type: 'client_credentials',
      client_id: 'svc',
      client_secret: 's3cret-value',
      scope: 'profile',
    })
    await post(
      idp,
      '/token',
      { grant_type: 'password', username: 'alice', password: 'alice' },
      { authorization: basic('web', 'web-secret') },
    )
    const entries = idp.control.journal.entries({ endpoint: 'token' })
    expect(entries).toHaveLength(2)
    expect(entries[0]).toMatchObject({
      endpoint: 'token',
      grantType: 'client_credentials',
      clientId: 'svc',
      status: 200,
      method: 'POST',
      path: '/token',
    })
    expect(entries[0]?.params).toEqual({
      grant_type: 'client_credentials',
      client_id: 'svc',
      client_secret: '<redacted>',
      scope: 'profile',
    })
    expect(entries[1]?.params.password).toBe('<redacted>')
    expect(JSON.stringify(idp.control.journal.entries())).not.toContain('s3cret-value')
    expect(idp.control.journal.entries({ grantType: 'password' })).toHaveLength(1)
    await post(idp, '/token', { grant_type: 'client_credentials' }, { authorization: basic('svc', 'wrong') })
    expect(idp.control.journal.entries({ clientId: 'svc' }).at(-1)).toMatchObject({
      status: 401,
      error: 'invalid_client',
    })
    idp.control.journal.clear()
    expect(idp.control.journal.entries()).toEqual([])
  })
})

describe('control plane: isolation and reset', () => {
  it('two instances share nothing', async () => {
    const a = await idpWith()
    const b = await idpWith()
    const tokens = await codeLogin(a)
    expect((await postJson(b, '/introspect', { token: String(tokens.access_token) }, SVC)).body.active).toBe(
      false,
    )
    a.control.users.add({ sub: 'only-in-a' })
    expect(b.control.users.get('only-in-a')).toBeUndefined()
    a.control.clock.advance(1e9)
    expect(Math.abs(b.control.clock.now() - Date.now())).toBeLessThan(5_000)
    expect(b.control.journal.entries({ endpoint: 'token' })).toHaveLength(0)
  })

  it('reset forgets tokens, added users and clients, faults and the clock', async () => {
    const idp = await idpWith()
    const tokens = await codeLogin(idp)
    idp.control.users.add({ sub: 'temp' })
    idp.control.clients.add({ clientId: 'temp', clientSecret: 'x' })
    idp.control.faults.inject({ endpoint: 'token', status: 500, times: 5 })
    idp.control.clock.advance(1e6)
    idp.reset()
    expect(idp.control.users.get('temp')).toBeUndefined()
    expect(idp.control.clients.get('temp')).toBeUndefined()
    expect(idp.control.clients.get('svc')).toEqual(SERVICE)
    expect(idp.control.faults.list()).toEqual([])
    expect(
      (await postJson(idp, '/introspect', { token: String(tokens.access_token) }, SVC)).body.active,
    ).toBe(false)
  })
})

describe('control plane over HTTP', () => {
  const call = (idp: Awaited<ReturnType<typeof idpWith>>, method: string, path: string, body?: unknown) =>
    idp.fetch(`${idp.issuer}/_control${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    })

  it('approves a device code, moves the clock, injects faults, mints tokens and reads the journal', async () => {
    const idp = await idpWith()
    const device = await postJson(idp, '/device_authorization', { client_id: 'cli', scope: 'openid' })
    const devices = (await (await call(idp, 'GET', '/devices')).json()) as Array<{
      userCode: string
      status: string
    }>
    expect(devices[0]?.status).toBe('pending')
    const approved = await call(idp, 'POST', `/devices/${device.body.user_code}/approve`, { sub: 'alice' })
    expect(await approved.json()).toMatchObject({ status: 'approved', sub: 'alice' })
    expect((await call(idp, 'POST', '/devices/NOPE-NOPE/approve', {})).status).toBe(404)
    const clock = (await (await call(idp, 'POST', '/clock', { advanceMs: 1000 })).json()) as { nowMs: number }
    expect(clock.nowMs).toBeGreaterThan(Date.now())
    expect((await call(idp, 'POST', '/faults', { endpoint: 'token', status: 500 })).status).toBe(201)
    expect((await cc(idp)).status).toBe(500)
    const minted = (await (
      await call(idp, 'POST', '/tokens', { clientId: 'cli', sub: 'alice', scope: 'openid' })
    ).json()) as Record<string, unknown>
    expect(typeof minted.id_token).toBe('string')
    const signed = (await (
      await call(idp, 'POST', '/tokens/sign', { claims: { sub: 'x', aud: 'wrong' } })
    ).json()) as { token: string }
    expect(decodeJwt(signed.token).payload.aud).toBe('wrong')
    const journal = (await (await call(idp, 'GET', '/journal?endpoint=token')).json()) as unknown[]
    expect(journal).toHaveLength(1)
    expect((await call(idp, 'POST', '/users', { sub: 'alice' })).status).toBe(409)
    expect((await call(idp, 'GET', '/nothing')).status).toBe(404)
    expect((await call(idp, 'POST', '/reset', {})).status).toBe(200)
  })

  it('can be switched off or moved', async () => {
    const off = await createMockIdp({ controlPrefix: false })
    expect((await off.fetch(`${off.issuer}/_control/users`)).status).toBe(404)
    const moved = await createMockIdp({ controlPrefix: '/admin' })
    expect((await moved.fetch(`${moved.issuer}/admin/users`)).status).toBe(200)
  })
})
