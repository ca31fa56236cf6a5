/** The Hono app: routing, fault injection, journaling, CORS and the error boundary. @module */
import { Hono } from 'hono'
import { authorize, login } from './authorize.ts'
import { controlHttp, type MockIdpControl } from './control.ts'
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
import type { EndpointName } from './journal.ts'
import type { Provider } from './provider.ts'
import { deviceAuthorization, token } from './token.ts'
import { sleep } from './util.ts'
import { bindNodeBody, errorResponse, fail, json, type NodeIncoming, OAuthFailure } from './wire.ts'

/** What an endpoint tells the journal about a request. @internal */
export interface LogDraft {
  params: Record<string, string>
  clientId?: string
  grantType?: string
  error?: string
}

type Handler = (p: Provider, request: Request, log: LogDraft) => Promise<Response>

const ROUTES: ReadonlyMap<string, readonly [EndpointName, Handler]> = new Map<
  string,
  readonly [EndpointName, Handler]
>([
  ['/.well-known/openid-configuration', ['discovery', discovery]],
  ['/.well-known/oauth-authorization-server', ['discovery', discovery]],
  ['/jwks', ['jwks', jwks]],
  ['/authorize', ['authorize', authorize]],
  ['/login', ['login', login]],
  ['/token', ['token', token]],
  ['/device_authorization', ['device_authorization', deviceAuthorization]],
  ['/device', ['device', deviceVerification]],
  ['/userinfo', ['userinfo', userinfo]],
  ['/introspect', ['introspection', introspect]],
  ['/revoke', ['revocation', revoke]],
  ['/end_session', ['end_session', endSession]],
  ['/register', ['registration', register]],
])

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
  app.all('*', async (c) => {
    const request = c.req.raw
    const origin = request.headers.get('origin')
    if (request.method === 'OPTIONS' && origin !== null) return preflight(origin)
    const response = await route(p, control, request, c.env)
    // Only browsers send Origin; leaving other responses untouched keeps the server's fast path.
    if (origin !== null) {
      response.headers.set('access-control-allow-origin', '*')
      response.headers.set('access-control-expose-headers', 'WWW-Authenticate')
    }
    return response
  })
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

/** Answers a CORS preflight: any origin may call the IdP (it is a test tool). */
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

async function route(
  p: Provider,
  control: MockIdpControl,
  request: Request,
  env: unknown,
): Promise<Response> {
  {
    const url = new URL(request.url)
    let path = url.pathname
    for (const wellKnown of [
      '/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server',
    ]) {
      // RFC 8414 §3.1 inserts the well-known segment before the issuer's path.
      if (p.basePath !== '' && path === `${wellKnown}${p.basePath}`) path = `${p.basePath}${wellKnown}`
    }
    if (p.basePath !== '') {
      if (!path.startsWith(`${p.basePath}/`)) return notFound(path)
      path = path.slice(p.basePath.length)
    }
    const prefix = p.settings.controlPrefix
    if (prefix !== false && (path === prefix || path.startsWith(`${prefix}/`))) {
      return run(p, 'control', request, env, (pp, req) =>
        controlHttp(pp, control, req, path.slice(prefix.length)),
      )
    }
    const found = ROUTES.get(path)
    if (!found) return notFound(path)
    if (found[0] === 'registration' && !p.settings.registration) return notFound(path)
    return run(p, found[0], request, env, found[1])
  }
}

function notFound(path: string): Response {
  return errorResponse(new OAuthFailure(404, 'invalid_request', `no endpoint at ${path.slice(0, 100)}`))
}

async function run(
  p: Provider,
  endpoint: EndpointName,
  request: Request,
  env: unknown,
  handler: Handler,
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
  })
  return response
}
