/**
 * The control plane over HTTP: a Hono sub-app mounted under the control prefix. It is the most
 * privileged surface of the IdP (passwords, secrets, minting tokens), so it answers only the test
 * process: no CORS, no request that carries an `Origin` (a browser), no `Host` other than a
 * loopback name or the issuer's own (DNS rebinding), and the control token when one is set.
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from 'hono'
import type { IssueTokenOptions, MockIdpControl } from './control.ts'
import { MockIdpError } from './errors.ts'
import type { FaultRule } from './faults.ts'
import type { ClaimOverrides } from './issuing.ts'
import type { JournalFilter } from './journal.ts'
import type { Provider } from './provider.ts'
import type { MockClient, MockUser, SigningAlg } from './types.ts'
import { isRecord, timingSafeEqual } from './util.ts'
import { errorResponse, fail, json, OAuthFailure, readJsonObject, truncate } from './wire.ts'

/** Runs one control request through the journal and fault rules; supplied by the app. @internal */
export type Journaled = (request: Request, env: unknown, answer: () => Promise<Response>) => Promise<Response>

const SIGNING_ALGS: readonly SigningAlg[] = ['RS256', 'ES256', 'EdDSA']

/** Whether a host name (as `URL.hostname` spells it) is a loopback name or address. @internal */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '')
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    host === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  )
}

function refuse(status: number, description: string, headers: Record<string, string> = {}): Response {
  return json({ error: 'ERR_CONTROL_FORBIDDEN', error_description: description }, status, headers)
}

/** The checks every control request passes first; `undefined` lets it through. @internal */
export function controlRefusal(p: Provider, request: Request): Response | undefined {
  if (request.headers.has('origin')) {
    return refuse(
      403,
      'the control plane refuses requests from web pages (the request has an Origin header); drive it from the test process',
    )
  }
  const token = p.settings.controlToken
  if (token !== undefined) {
    const match = /^bearer +(\S+) *$/i.exec(request.headers.get('authorization') ?? '')
    if (!match?.[1] || !timingSafeEqual(match[1], token)) {
      return refuse(
        401,
        'the control plane needs "Authorization: Bearer <control token>" (the controlToken option; serve() prints or returns it)',
        { 'www-authenticate': 'Bearer realm="mock-idp-control"' },
      )
    }
    // Whoever holds the token may come from anywhere the IdP listens.
    return undefined
  }
  const issuerHost = new URL(p.issuer).hostname
  for (const host of hostsOf(request)) {
    if (!isLoopbackHost(host) && host !== issuerHost) {
      return refuse(
        403,
        `the control plane answers only loopback hosts and the issuer's host, not "${truncate(host)}" (a defence against DNS rebinding); use 127.0.0.1, or set controlToken`,
      )
    }
  }
  return undefined
}

/** The host names a request names: its URL's, and its `Host` header's when that differs. */
function hostsOf(request: Request): string[] {
  const hosts = [new URL(request.url).hostname]
  const header = request.headers.get('host')
  if (header !== null) {
    try {
      hosts.push(new URL(`http://${header}`).hostname)
    } catch {
      hosts.push(header)
    }
  }
  return hosts
}

/** The HTTP status of a control error. */
function statusOf(error: MockIdpError): number {
  if (error.code.startsWith('ERR_UNKNOWN')) return 404
  return error.code === 'ERR_DUPLICATE' ? 409 : 400
}

/**
 * Builds the control plane sub-app. Bodies are JSON; errors are `{ error, error_description }`
 * with the {@link MockIdpError} code as `error`. @internal
 */
export function controlApp(p: Provider, control: MockIdpControl, journaled: Journaled): Hono {
  const app = new Hono()
  const guard: MiddlewareHandler = async (c, next) =>
    journaled(c.req.raw, c.env, async () => {
      const refusal = controlRefusal(p, c.req.raw)
      if (refusal) return refusal
      await next()
      return c.res
    })
  app.use('*', guard)
  const body = (request: Request): Promise<Record<string, unknown>> => readJsonObject(request)

  app.get('/users', () => json(control.users.list()))
  app.post('/users', async (c) =>
    json(control.users.add((await body(c.req.raw)) as unknown as MockUser), 201),
  )
  app.patch('/users/:sub', async (c) =>
    json(control.users.update(c.req.param('sub'), (await body(c.req.raw)) as Omit<Partial<MockUser>, 'sub'>)),
  )
  app.delete('/users/:sub', (c) => json({ removed: control.users.remove(c.req.param('sub')) }))

  app.get('/clients', () => json(control.clients.list()))
  app.post('/clients', async (c) =>
    json(control.clients.add((await body(c.req.raw)) as unknown as MockClient), 201),
  )
  app.delete('/clients/:id', (c) => json({ removed: control.clients.remove(c.req.param('id')) }))

  app.get('/devices', () => json(control.devices.list()))
  app.post('/devices/:code/approve', async (c) => {
    const sub = (await body(c.req.raw)).sub
    return json(control.devices.approve(c.req.param('code'), typeof sub === 'string' ? sub : undefined))
  })
  app.post('/devices/:code/deny', (c) => json(control.devices.deny(c.req.param('code'))))
  app.post('/devices/:code/expire', (c) => json(control.devices.expire(c.req.param('code'))))

  const clock = () => json({ nowMs: p.clock.now(), frozen: p.clock.frozen })
  app.get('/clock', clock)
  app.post('/clock', async (c) => {
    const b = await body(c.req.raw)
    if (b.setMs !== undefined) p.clock.set(b.setMs as number)
    if (b.advanceMs !== undefined) p.clock.advance(b.advanceMs as number)
    if (b.frozen === true) p.clock.freeze()
    if (b.frozen === false) p.clock.unfreeze()
    return clock()
  })

  app.get('/keys', () => json(control.keys.list()))
  app.post('/keys/rotate', async (c) => {
    const b = await body(c.req.raw)
    if (b.alg !== undefined && !SIGNING_ALGS.includes(b.alg as SigningAlg)) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `alg must be one of ${SIGNING_ALGS.join(', ')}, got ${truncate(JSON.stringify(b.alg))}`,
      )
    }
    return json(await control.keys.rotate(b as { graceMs?: number; alg?: SigningAlg }))
  })

  app.get('/faults', () => json(control.faults.list()))
  app.post('/faults', async (c) => {
    control.faults.inject((await body(c.req.raw)) as unknown as FaultRule)
    return json(control.faults.list(), 201)
  })
  app.delete('/faults', () => {
    control.faults.clear()
    return json([])
  })

  app.get('/journal', (c) => {
    const q = new URL(c.req.url).searchParams
    const filter: Record<string, unknown> = {}
    for (const key of ['endpoint', 'grantType', 'clientId']) if (q.has(key)) filter[key] = q.get(key)
    if (q.has('sinceSeq')) filter.sinceSeq = Number(q.get('sinceSeq'))
    return json(control.journal.entries(filter as JournalFilter))
  })
  app.delete('/journal', () => {
    control.journal.clear()
    return json([])
  })

  app.post('/claims', async (c) => {
    const b = await body(c.req.raw)
    const times = typeof b.times === 'number' ? b.times : 1
    const { times: _times, ...overrides } = b
    control.claims.override(overrides as ClaimOverrides, { times })
    return json({ ok: true }, 201)
  })
  app.delete('/claims', () => {
    control.claims.clear()
    return json({ ok: true })
  })

  app.post('/login', async (c) => {
    const sub = (await body(c.req.raw)).sub
    if (typeof sub !== 'string') throw fail('invalid_request', 'body needs "sub"')
    control.login.next(sub)
    return json({ ok: true })
  })

  app.post('/tokens', async (c) =>
    json(await control.tokens.issue((await body(c.req.raw)) as unknown as IssueTokenOptions)),
  )
  app.post('/tokens/sign', async (c) => {
    const b = await body(c.req.raw)
    if (!isRecord(b.claims)) throw fail('invalid_request', 'body needs "claims", an object')
    return json({
      token: await control.tokens.sign(b.claims, typeof b.typ === 'string' ? { typ: b.typ } : {}),
    })
  })

  app.get('/dpop', () => json(control.dpop.info()))
  app.post('/dpop', async (c) => {
    const b = await body(c.req.raw)
    if ('requireNonce' in b) {
      const on = b.requireNonce
      if (on !== null && typeof on !== 'boolean') {
        throw new MockIdpError(
          'ERR_INVALID_OPTION',
          'requireNonce must be true, false or null (back to the settings)',
        )
      }
      control.dpop.requireNonce(on ?? undefined)
    }
    if (b.rotate === true) control.dpop.rotateNonce()
    return json(control.dpop.info())
  })

  app.get('/stats', () => json(control.stats()))

  app.post('/reset', () => {
    control.reset()
    return json({ ok: true })
  })

  app.all('*', (c) => {
    throw new OAuthFailure(
      404,
      'invalid_request',
      `no control operation ${truncate(c.req.method)} ${truncate(new URL(c.req.url).pathname, 100)}`,
    )
  })

  app.onError((error) => {
    if (error instanceof MockIdpError) {
      return json({ error: error.code, error_description: error.message }, statusOf(error))
    }
    if (error instanceof OAuthFailure) return errorResponse(error)
    // The clock and the options checks throw TypeError for a value of the wrong type.
    if (error instanceof TypeError) {
      return json({ error: 'ERR_INVALID_OPTION', error_description: error.message }, 400)
    }
    throw error
  })
  return app
}
