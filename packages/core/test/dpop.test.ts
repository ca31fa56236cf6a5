/**
 * DPoP (RFC 9449), PAR (RFC 9126) and resource indicators (RFC 8707) in core: the reducers carry
 * them, the interpreter sends them (answers from `new Response`), the keys round-trip, the
 * configuration is checked field by field.
 */
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  codeFlow,
  codeTransition,
  DPOP_ALGORITHMS,
  deviceFlow,
  deviceTransition,
  dpopAlgorithm,
  dpopHandle,
  dpopRequest,
  generateDPoPKey,
  type HttpContext,
  importDPoPKey,
  KeyfobError,
  prepareAuthorization,
  redactRecord,
  refreshFlow,
  requestTransition,
  resourcesOf,
  runHttpEffect,
  validateConfig,
} from '../src/index.ts'

const ISSUER = 'https://idp.example'
const AS = {
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  pushed_authorization_request_endpoint: `${ISSUER}/par`,
  dpop_signing_alg_values_supported: ['ES256'],
}
const KEY = { alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' } }

/** Verifies a DPoP proof with the key it embeds, and answers its header and claims. */
async function proofOf(header: string | null) {
  expect(header).toBeTruthy()
  const { payload, protectedHeader } = await jwtVerify(header as string, EmbeddedJWK, {
    typ: 'dpop+jwt',
  })
  return { payload, protectedHeader }
}

/** A fake provider: answers from a list, records each request. */
function provider(answers: Array<() => Response>) {
  const requests: Request[] = []
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    requests.push(new Request(input, init))
    const next = answers.shift()
    if (!next) throw new Error('no more answers')
    return next()
  }
  return { requests, fetch }
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  })

describe('reducers carry resource indicators, PAR and the DPoP key', () => {
  const resource = ['https://api.example/', 'https://other.example/']

  it('device flow: every resource to the device authorization, the first to the polls; the key ends in the record', () => {
    const start = deviceTransition(deviceFlow({ scope: 'openid', resource, dpopKey: KEY }), {
      type: 'start',
      nowMs: 0,
    })
    expect(start.effects).toEqual([
      { type: 'device-authorization-request', scope: 'openid', deadlineMs: 300_000, resource },
    ])
    const authorized = deviceTransition(start.state, {
      type: 'device-authorization',
      response: { device_code: 'dc', user_code: 'U', verification_uri: 'https://idp/d', expires_in: 600 },
      nowMs: 0,
    })
    const poll = deviceTransition(authorized.state, { type: 'woke', nowMs: 5_000 })
    expect(poll.effects).toEqual([
      {
        type: 'token-request',
        request: { grant: 'device_code', deviceCode: 'dc', resource: ['https://api.example/'] },
        deadlineMs: 300_000,
      },
    ])
    const done = deviceTransition(poll.state, {
      type: 'token-response',
      response: { access_token: 'at', token_type: 'DPoP', expires_in: 60, refresh_token: 'rt' },
      nowMs: 5_000,
    })
    expect(done.state).toEqual({
      phase: 'done',
      tokens: {
        accessToken: 'at',
        tokenType: 'dpop',
        expiresAt: 65_000,
        refreshToken: 'rt',
        dpopKey: KEY,
        updatedAt: 5_000,
      },
    })
  })

  it('code flow with push: the request is pushed, the short URL opened, the first resource exchanged', () => {
    const initial = codeFlow({
      authorizationUrl: `${ISSUER}/authorize?client_id=cli&state=s`,
      redirectUri: 'http://127.0.0.1/callback',
      codeVerifier: 'v',
      state: 's',
      nonce: 'n',
      push: true,
      resource,
      dpopKey: KEY,
    })
    const started = codeTransition(initial, { type: 'start', nowMs: 0 })
    expect(started.effects).toEqual([
      { type: 'pushed-authorization-request', url: `${ISSUER}/authorize?client_id=cli&state=s` },
    ])
    const short = `${ISSUER}/authorize?client_id=cli&request_uri=urn%3Ax`
    const pushed = codeTransition(started.state, {
      type: 'pushed-authorization',
      authorizationUrl: short,
      nowMs: 1,
    })
    expect(pushed.effects).toEqual([{ type: 'open-browser', url: short }])
    const back = codeTransition(pushed.state, {
      type: 'callback',
      params: { code: 'c', state: 's' },
      nowMs: 2,
    })
    expect(back.effects).toEqual([
      {
        type: 'token-request',
        request: {
          grant: 'authorization_code',
          callback: { code: 'c', state: 's' },
          redirectUri: 'http://127.0.0.1/callback',
          codeVerifier: 'v',
          expectedState: 's',
          expectedNonce: 'n',
          resource: ['https://api.example/'],
        },
      },
    ])
    const done = codeTransition(back.state, {
      type: 'token-response',
      response: { access_token: 'at', token_type: 'DPoP' },
      nowMs: 3,
    })
    expect(done.state).toEqual({
      phase: 'done',
      tokens: { accessToken: 'at', tokenType: 'dpop', dpopKey: KEY, updatedAt: 3 },
    })
  })

  it('a refused push ends the code flow with its OAuth error', () => {
    const started = codeTransition(
      codeFlow({
        authorizationUrl: `${ISSUER}/a`,
        redirectUri: 'r',
        codeVerifier: 'v',
        state: 's',
        nonce: 'n',
        push: true,
      }),
      { type: 'start', nowMs: 0 },
    )
    const refused = codeTransition(started.state, {
      type: 'token-error',
      error: 'invalid_target',
      description: 'resource indicator is missing, or unknown',
      status: 400,
      nowMs: 1,
    })
    expect(refused.state).toEqual({
      phase: 'failed',
      failure: {
        code: 'ERR_INVALID_TARGET',
        message:
          'the pushed authorization request failed with invalid_target (resource indicator is missing, or unknown)',
        evidence: {
          error: 'invalid_target',
          errorDescription: 'resource indicator is missing, or unknown',
          status: 400,
        },
      },
    })
  })

  it('a refresh names its resource and keeps the key', () => {
    const previous = { accessToken: 'old', refreshToken: 'rt', dpopKey: KEY, updatedAt: 0 }
    const started = requestTransition(refreshFlow(previous, undefined, ['https://other.example/']), {
      type: 'start',
      nowMs: 0,
    })
    expect(started.effects).toEqual([
      {
        type: 'token-request',
        request: { grant: 'refresh_token', refreshToken: 'rt', resource: ['https://other.example/'] },
      },
    ])
    const done = requestTransition(started.state, {
      type: 'token-response',
      response: { access_token: 'new', token_type: 'DPoP', refresh_token: 'rt2' },
      nowMs: 7,
    })
    expect(done.state).toEqual({
      phase: 'done',
      tokens: { accessToken: 'new', tokenType: 'dpop', refreshToken: 'rt2', dpopKey: KEY, updatedAt: 7 },
    })
  })
})

describe('configuration: dpop, par, resource', () => {
  const withProvider = (extra: Record<string, unknown>) => ({
    version: 1,
    providers: { idp: { issuer: ISSUER, ...extra } },
    apis: {},
  })
  it('accepts the documented forms', () => {
    for (const extra of [
      { dpop: true, par: 'auto', resource: 'https://api.example/' },
      { dpop: { alg: 'ES256' }, par: true, resource: ['https://a.example/', 'urn:example:api'] },
      { dpop: false, par: false },
    ])
      expect(validateConfig(withProvider(extra)).providers.idp).toEqual({ issuer: ISSUER, ...extra })
  })
  it('names the offending field', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ dpop: 'yes' }, 'providers.idp.dpop'],
      [{ dpop: { alg: 'HS256' } }, 'providers.idp.dpop.alg'],
      [{ par: 'always' }, 'providers.idp.par'],
      [{ resource: 'api' }, 'providers.idp.resource'],
      [{ resource: [] }, 'providers.idp.resource'],
      [{ resource: ['https://a.example/', 'https://b.example/#frag'] }, 'providers.idp.resource[1]'],
      [{ resource: [42] }, 'providers.idp.resource[0]'],
    ]
    for (const [extra, field] of cases) {
      let caught: unknown
      try {
        validateConfig(withProvider(extra))
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(KeyfobError)
      expect((caught as KeyfobError).code).toBe('ERR_INVALID_CONFIG')
      expect((caught as KeyfobError).cause).toEqual({ field })
    }
  })
  it('resourcesOf lists and checks', () => {
    expect(resourcesOf(undefined)).toEqual([])
    expect(resourcesOf('https://a.example/')).toEqual(['https://a.example/'])
    expect(() => resourcesOf(['https://a.example/#x'])).toThrow(/fragment/)
  })
})

describe('DPoP keys', () => {
  it('picks the algorithm from the metadata, or as named, or says why not', () => {
    expect(
      dpopAlgorithm({ issuer: ISSUER, dpop_signing_alg_values_supported: ['RS256', 'ES256'] }, true),
    ).toBe('ES256')
    expect(dpopAlgorithm({ issuer: ISSUER, dpop_signing_alg_values_supported: ['RS256'] }, true)).toBe(
      'RS256',
    )
    expect(dpopAlgorithm({ issuer: ISSUER }, { alg: 'PS256' })).toBe('PS256')
    for (const as of [{ issuer: ISSUER }, { issuer: ISSUER, dpop_signing_alg_values_supported: ['HS256'] }]) {
      let caught: unknown
      try {
        dpopAlgorithm(as, true)
      } catch (error) {
        caught = error
      }
      expect((caught as KeyfobError).code).toBe('ERR_DPOP_UNSUPPORTED')
      expect((caught as KeyfobError).message).toMatch(/dpop setting/)
    }
    expect(DPOP_ALGORITHMS[0]).toBe('ES256')
  })

  it('a new key is stored as a JWK and held as a non-extractable private key', async () => {
    const key = await generateDPoPKey('ES256')
    expect(key.record.alg).toBe('ES256')
    expect(key.record.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' })
    for (const member of ['x', 'y', 'd']) expect(typeof key.record.jwk[member]).toBe('string')
    expect(key.keyPair.privateKey.extractable).toBe(false)
    expect(key.keyPair.publicKey.extractable).toBe(true)
    await expect(crypto.subtle.exportKey('jwk', key.keyPair.privateKey)).rejects.toThrow()
    // The stored form signs what the public key verifies: the same key after a round trip.
    const again = await importDPoPKey(key.record)
    const data = new TextEncoder().encode('proof')
    const ecdsa = { name: 'ECDSA', hash: 'SHA-256' }
    const signature = await crypto.subtle.sign(ecdsa, again.privateKey, data)
    expect(await crypto.subtle.verify(ecdsa, key.keyPair.publicKey, signature, data)).toBe(true)
  })

  it('every algorithm keyfob signs with makes a key that round-trips through its stored form', async () => {
    for (const alg of DPOP_ALGORITHMS) {
      const key = await generateDPoPKey(alg)
      expect(key.record.alg).toBe(alg)
      const again = await importDPoPKey(key.record)
      expect(again.privateKey.extractable).toBe(false)
      expect(await dpopHandle(again).calculateThumbprint()).toBe(
        await dpopHandle(key.keyPair).calculateThumbprint(),
      )
    }
  }, 30_000)

  it('a damaged stored key is refused without its values in the message', async () => {
    let caught: unknown
    try {
      await importDPoPKey({
        alg: 'ES256',
        jwk: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'BBBB', d: 'SECRETD' },
      })
    } catch (error) {
      caught = error
    }
    expect((caught as KeyfobError).code).toBe('ERR_INVALID_ARGUMENT')
    expect(String((caught as KeyfobError).message)).not.toContain('SECRETD')
    expect(JSON.stringify((caught as KeyfobError).cause)).not.toContain('SECRETD')
  })

  it('redaction hides the private members and keeps the public ones', async () => {
    const key = await generateDPoPKey('ES256')
    const redacted = await redactRecord({ refreshToken: 'rt', dpopKey: key.record, updatedAt: 0 })
    expect(redacted.dpopKey?.jwk.x).toBe(key.record.jwk.x)
    expect(redacted.dpopKey?.jwk.d).toMatch(/^<redacted:sha256:[0-9a-f]{6}>$/)
    expect(JSON.stringify(redacted)).not.toContain(key.record.jwk.d as string)
  })
})

describe('the interpreter with DPoP, PAR and resource indicators', () => {
  async function ctxWith(fetch: HttpContext['fetch']) {
    const key = await generateDPoPKey('ES256')
    const ctx: HttpContext = {
      as: AS,
      client: { clientId: 'cli' },
      dpop: dpopHandle(key.keyPair),
      ...(fetch ? { fetch } : {}),
    }
    return { ctx, key }
  }
  const refresh = {
    type: 'token-request' as const,
    request: { grant: 'refresh_token' as const, refreshToken: 'rt', resource: ['https://api.example/'] },
  }
  const nonceError = () => json({ error: 'use_dpop_nonce' }, 400, { 'dpop-nonce': 'n-1' })

  it('use_dpop_nonce at the token endpoint: exactly one retry, with the nonce', async () => {
    const idp = provider([nonceError, () => json({ access_token: 'at', token_type: 'DPoP', expires_in: 60 })])
    const { ctx, key } = await ctxWith(idp.fetch)
    const event = await runHttpEffect(refresh, ctx)
    expect(event).toMatchObject({
      type: 'token-response',
      response: { access_token: 'at', token_type: 'dpop' },
    })
    expect(idp.requests.length).toBe(2)
    const [first, second] = await Promise.all(idp.requests.map((r) => proofOf(r.headers.get('dpop'))))
    expect(first?.payload.nonce).toBeUndefined()
    expect(second?.payload).toMatchObject({ htm: 'POST', htu: `${ISSUER}/token`, nonce: 'n-1' })
    expect(second?.protectedHeader.jwk).toMatchObject({ kty: 'EC', x: key.record.jwk.x })
    expect(second?.payload.jti).not.toBe(first?.payload.jti)
    const body = new URLSearchParams(await (idp.requests[1] as Request).text())
    expect(body.getAll('resource')).toEqual(['https://api.example/'])
    expect(body.get('grant_type')).toBe('refresh_token')
  })

  it('a second use_dpop_nonce is the answer: no third request', async () => {
    const idp = provider([nonceError, nonceError, nonceError])
    const { ctx } = await ctxWith(idp.fetch)
    const event = await runHttpEffect(refresh, ctx)
    expect(event).toMatchObject({ type: 'token-error', error: 'use_dpop_nonce', status: 400 })
    expect(idp.requests.length).toBe(2)
  })

  it('a Bearer answer to a DPoP-bound request fails with ERR_DPOP_NOT_BOUND', async () => {
    const idp = provider([() => json({ access_token: 'at', token_type: 'Bearer' })])
    const { ctx } = await ctxWith(idp.fetch)
    const event = await runHttpEffect(refresh, ctx)
    expect(event).toMatchObject({
      type: 'failed',
      failure: { code: 'ERR_DPOP_NOT_BOUND', evidence: { tokenType: 'bearer' } },
    })
  })

  it('invalid_target comes back as its OAuth error', async () => {
    const idp = provider([
      () => json({ error: 'invalid_target', error_description: 'unknown resource' }, 400),
    ])
    const { ctx } = await ctxWith(idp.fetch)
    expect(await runHttpEffect(refresh, ctx)).toMatchObject({
      type: 'token-error',
      error: 'invalid_target',
      description: 'unknown resource',
    })
  })

  it('pushes an authorization request with a proof and answers the short URL', async () => {
    const idp = provider([
      nonceError,
      () => json({ request_uri: 'urn:ietf:params:oauth:request_uri:abc', expires_in: 60 }, 201),
    ])
    const { ctx } = await ctxWith(idp.fetch)
    const start = await prepareAuthorization(AS, {
      clientId: 'cli',
      redirectUri: 'http://127.0.0.1:1234/callback',
      scope: 'openid',
      resource: ['https://api.example/', 'https://other.example/'],
    })
    const event = await runHttpEffect(
      { type: 'pushed-authorization-request', url: start.authorizationUrl },
      ctx,
    )
    expect(event).toMatchObject({
      type: 'pushed-authorization',
      authorizationUrl: `${ISSUER}/authorize?client_id=cli&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc`,
    })
    expect(idp.requests.map((r) => r.url)).toEqual([`${ISSUER}/par`, `${ISSUER}/par`])
    const body = new URLSearchParams(await (idp.requests[1] as Request).text())
    expect(body.getAll('resource')).toEqual(['https://api.example/', 'https://other.example/'])
    expect(body.get('code_challenge_method')).toBe('S256')
    expect(body.get('state')).toBe(start.state)
    expect((await proofOf((idp.requests[1] as Request).headers.get('dpop'))).payload).toMatchObject({
      htm: 'POST',
      htu: `${ISSUER}/par`,
      nonce: 'n-1',
    })
  })

  it('a push to a provider without a PAR endpoint fails with ERR_UNSUPPORTED', async () => {
    const { ctx } = await ctxWith(undefined)
    const event = await runHttpEffect(
      { type: 'pushed-authorization-request', url: `${ISSUER}/authorize?x=1` },
      { ...ctx, as: { issuer: ISSUER, authorization_endpoint: `${ISSUER}/authorize` } },
    )
    expect(event).toMatchObject({ type: 'failed', failure: { code: 'ERR_UNSUPPORTED' } })
  })

  it('prepareAuthorization binds the code to the key with dpop_jkt', async () => {
    const key = await generateDPoPKey('ES256')
    const jkt = await dpopHandle(key.keyPair).calculateThumbprint()
    const start = await prepareAuthorization(AS, {
      clientId: 'cli',
      redirectUri: 'r',
      scope: 'openid',
      dpopJkt: jkt,
    })
    const { d: _d, ...publicJwk } = key.record.jwk
    expect(new URL(start.authorizationUrl).searchParams.get('dpop_jkt')).toBe(
      await calculateJwkThumbprint(publicJwk),
    )
  })
})

describe('dpopRequest: a resource request with a fresh proof', () => {
  it('sends DPoP <token> with htm, htu without query, ath; retries once on use_dpop_nonce', async () => {
    const key = await generateDPoPKey('ES256')
    const dpop = dpopHandle(key.keyPair)
    const seen: Request[] = []
    const api = async (request: Request) => {
      seen.push(request)
      if (seen.length === 1)
        return new Response(null, {
          status: 401,
          headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"', 'dpop-nonce': 'rs-1' },
        })
      return new Response('ok')
    }
    const response = await dpopRequest(
      dpop,
      'the-token',
      new Request('https://api.example/jobs?page=2#x', { method: 'PUT' }),
      {
        body: new TextEncoder().encode('{"a":1}'),
        fetch: api,
      },
    )
    expect(await response.text()).toBe('ok')
    expect(seen.length).toBe(2)
    for (const request of seen) {
      expect(request.headers.get('authorization')).toBe('DPoP the-token')
      expect(request.method).toBe('PUT')
      expect(await request.text()).toBe('{"a":1}')
    }
    const ath = btoa(
      String.fromCharCode(
        ...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('the-token'))),
      ),
    )
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
    const second = await proofOf((seen[1] as Request).headers.get('dpop'))
    expect(second.payload).toMatchObject({ htm: 'PUT', htu: 'https://api.example/jobs', ath, nonce: 'rs-1' })
    // A later request to the same origin carries the nonce from the start.
    await dpopRequest(dpop, 'the-token', new Request('https://api.example/other'), { fetch: api })
    expect((await proofOf((seen[2] as Request).headers.get('dpop'))).payload.nonce).toBe('rs-1')
  })

  it('another challenge is returned as the answer, not thrown', async () => {
    const key = await generateDPoPKey('ES256')
    let calls = 0
    const response = await dpopRequest(dpopHandle(key.keyPair), 't', new Request('https://api.example/'), {
      fetch: async () => {
        calls++
        return new Response(null, {
          status: 401,
          headers: { 'www-authenticate': 'DPoP error="invalid_token"' },
        })
      },
    })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('DPoP error="invalid_token"')
    expect(calls).toBe(1)
  })
})
