/** The Hono app: routing, fault injection, journaling, CORS and the error boundary. @module */
import { type Context, Hono } from 'hono'
import { authorize, login, pushedAuthorization } from './authorize.ts'
import type { MockIdpControl } from './control.ts'
import { controlApp } from './control-http.ts'
import {
  deviceVerification,
  endSession,
  introspect,
  metadata,
  register,
  revoke,
  userinfo,
} from './endpoints.ts'
import { MockIdpError } from './errors.ts'
import type { FaultRule } from './faults.ts'
import type { DpopJournal, EndpointName, LogDraft } from './journal.ts'
import type { Provider } from './provider.ts'
import { deviceAuthorization, token } from './token.ts'
import { sleep } from './util.ts'
import { bindNodeBody, errorResponse, fail, json, type NodeIncoming, OAuthFailure } from './wire.ts'

type Handler = (p: Provider, request: Request, log: LogDraft) => Promise<Response>

const ROUTES: ReadonlyArray<readonly [string, EndpointName, Handler]> = [
  ['/.well-known/openid-configuration', 'discovery', discovery],
  ['/.well-known/oauth-authorization-server', 'discovery', discovery],
  ['/jwks', 'jwks', jwks],
  ['/authorize', 'authorize', authorize],
  ['/login', 'login', login],
  ['/token', 'token', token],
  ['/device_authorization', 'device_authorization', deviceAuthorization],
  ['/device', 'device', deviceVerification],
  ['/userinfo', 'userinfo', userinfo],
  ['/introspect', 'introspection', introspect],
  ['/revoke', 'revocation', revoke],
  ['/end_session', 'end_session', endSession],
  ['/register', 'registration', register],
  ['/par', 'par', pushedAuthorization],
]

async function discovery(p: Provider, request: Request): Promise<Response> {
  allow(request, 'GET')
  return json(metadata(p), 200, { 'cache-control': 'public, max-age=60' })
}

async function jwks(p: Provider, request: Request): Promise<Response> {
  allow(request, 'GET')
  return new Response(JSON.stringify(p.keys.jwks()), {
    headers: { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=60' },
  })
}

function allow(request: Request, method: 'GET'): void {
  if (request.method !== method && request.method !== 'HEAD') {
    throw new OAuthFailure(405, 'invalid_request', `this endpoint takes ${method}`, { allow: method })
  }
}

/** Marks a response that stands for a dropped connection; the in-process fetch turns it into a network error. @internal */
export const DROPPED_HEADER = 'x-mock-idp-dropped'

interface NodeEnv {
  readonly incoming?: NodeIncoming & { readonly socket?: { destroy(): void } }
}

async function applyFault(rule: FaultRule, env: unknown): Promise<Response | undefined> {
  if (rule.delayMs !== undefined) await sleep(rule.delayMs)
  if (rule.drop) {
    // On Node's server the socket is at hand; elsewhere a body that errors breaks the response.
    const socket = (env as NodeEnv | undefined)?.incoming?.socket
    if (socket) {
      socket.destroy()
      return new Response(null, { headers: { [DROPPED_HEADER]: '1' } })
    }
    return new Response(
      new ReadableStream({
        start(controller) {
          controller.error(new Error('connection dropped by fault injection'))
        },
      }),
      { headers: { [DROPPED_HEADER]: '1' } },
    )
  }
  if (rule.malformedJson) {
    return new Response('{"access_token": "trunc', {
      status: rule.status ?? 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    })
  }
  if (rule.body !== undefined) {
    return new Response(rule.body, {
      status: rule.status ?? 500,
      headers: { 'content-type': rule.contentType ?? 'text/html; charset=utf-8' },
    })
  }
  if (rule.error !== undefined || rule.status !== undefined) {
    const status = rule.status ?? 400
    return json(
      {
        error: rule.error ?? (status >= 500 ? 'server_error' : 'invalid_request'),
        error_description: rule.errorDescription ?? 'injected by the mock IdP fault rules',
      },
      status,
    )
  }
  return undefined
}

/** Builds the Hono app of a provider. @internal */
export function createApp(p: Provider, control: MockIdpControl): Hono {
  const app = new Hono()
  const base = p.basePath
  for (const [path, endpoint, handler] of ROUTES) {
    app.all(`${base}${path}`, (c) => {
      if (endpoint === 'registration' && !p.settings.registration) return notFound(c.req.path)
      return withCors(c, () => run(p, endpoint, c.req.raw, c.env, handler))
    })
  }
  if (base !== '') {
    // RFC 8414 §3.1 inserts the well-known segment before the issuer's path.
    for (const wellKnown of [
      '/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server',
    ]) {
      app.all(`${wellKnown}${base}`, (c) =>
        withCors(c, () => run(p, 'discovery', c.req.raw, c.env, discovery)),
      )
    }
  }
  const prefix = p.settings.controlPrefix
  if (prefix !== false) {
    // No CORS here: the control plane refuses every request that carries an Origin.
    app.route(
      `${base}${prefix}`,
      controlApp(p, control, (request, env, answer) => run(p, 'control', request, env, answer)),
    )
  }
  app.notFound((c) => withCors(c, async () => notFound(c.req.path)))
  app.onError((error) => {
    // The last line of defence: a bug must never look like a hang.
    return json(
      {
        error: 'server_error',
        error_description: `mock IdP bug: ${error instanceof Error ? error.message : String(error)}`,
      },
      500,
    )
  })
  return app
}

/**
 * CORS for the OAuth endpoints: any origin may call them (a browser-based client under test), and
 * a preflight is answered for any origin. Responses to requests without `Origin` stay untouched,
 * which keeps the server's fast path.
 */
async function withCors(c: Context, answer: () => Promise<Response>): Promise<Response> {
  const origin = c.req.header('origin')
  if (origin === undefined) return answer()
  if (c.req.method === 'OPTIONS') return preflight(origin)
  const response = await answer()
  response.headers.set('access-control-allow-origin', '*')
  response.headers.set('access-control-expose-headers', 'WWW-Authenticate, DPoP-Nonce')
  return response
}

/** Answers a CORS preflight for an OAuth endpoint. */
function preflight(origin: string): Response {
  return new Response(null, {
    status: 204,
    headers: {
      'access-control-allow-origin': origin === 'null' ? '*' : origin,
      'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE',
      'access-control-allow-headers': 'Authorization, Content-Type, DPoP',
      'access-control-max-age': '600',
      vary: 'Origin',
    },
  })
}

function notFound(path: string): Response {
  return errorResponse(new OAuthFailure(404, 'invalid_request', `no endpoint at ${path.slice(0, 100)}`))
}

/** The journal's DPoP record, with the nonce the answer handed out. */
function dpopEntry(draft: DpopJournal, response: Response): DpopJournal {
  const issued = response.headers.get('dpop-nonce')
  return issued === null ? { ...draft } : { ...draft, issuedNonce: issued }
}

/** Runs one request through fault rules, the handler and the journal. */
async function run(
  p: Provider,
  endpoint: EndpointName,
  request: Request,
  env: unknown,
  handler: Handler | (() => Promise<Response>),
): Promise<Response> {
  const atMs = p.clock.now()
  const log: LogDraft = { params: {} }
  const incoming = (env as NodeEnv | undefined)?.incoming
  if (incoming) bindNodeBody(request, incoming)
  let response: Response | undefined
  const rule = p.faults.take(endpoint)
  if (rule) response = await applyFault(rule, env)
  const fault = response !== undefined
  if (!response) {
    try {
      response = await handler(p, request, log)
    } catch (error) {
      const failure =
        error instanceof OAuthFailure
          ? error
          : error instanceof MockIdpError
            ? fail('invalid_request', error.message)
            : undefined
      if (!failure) throw error
      log.error = failure.error
      response = errorResponse(failure)
    }
  }
  p.journal.add({
    atMs,
    method: request.method,
    path: new URL(request.url).pathname,
    endpoint,
    ...(log.grantType !== undefined ? { grantType: log.grantType } : {}),
    ...(log.clientId !== undefined ? { clientId: log.clientId } : {}),
    params: log.params,
    status: response.status,
    ...(log.error !== undefined ? { error: log.error } : {}),
    ...(fault ? { fault: true } : {}),
    ...(log.dpop !== undefined ? { dpop: dpopEntry(log.dpop, response) } : {}),
  })
  return response
}
