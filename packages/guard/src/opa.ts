/** `opaPolicy`: Open Policy Agent over its REST Data API, with fastgeoapi's input document. @module */
import type { PolicyDecision, PolicyEngine, PolicyRequest } from './authorize.ts'
import { checkUrl, describe, readJsonObject } from './discovery.ts'
import { GuardError } from './errors.ts'
import { positiveInteger } from './options.ts'
import type { FetchLike } from './types.ts'

/** Options of {@link opaPolicy}. */
export interface OpaPolicyOptions {
  /** OPA's base URL, e.g. `http://127.0.0.1:8181` (a sidecar; plain http is accepted). */
  readonly url: string | URL
  /** The decision document: `httpapi/authz` (default, fastapi-opa's `httpapi.authz`); dots work too. */
  readonly path?: string
  /** Abort the call after this long; default 1000 ms. A timeout is a 503 (fail closed). */
  readonly timeoutMs?: number
  /** Extra headers, e.g. `{ authorization: 'Bearer …' }` for an OPA with authentication. */
  readonly headers?: Readonly<Record<string, string>>
  /**
   * A path prefix to strip from `request_path` (e.g. the `/geoapi` mount). Default none: the whole
   * path, as fastgeoapi sends it. `guard.request.path` always holds the full path.
   */
  readonly pathPrefix?: string
  /** Replace the input document entirely. */
  readonly input?: (request: PolicyRequest) => Record<string, unknown> | Promise<Record<string, unknown>>
  /** The `fetch`; default `globalThis.fetch`. */
  readonly fetch?: FetchLike
}

/**
 * The input document fastgeoapi (fastapi-opa) sends, plus a namespaced `guard` block:
 *
 * ```json
 * { "sub": "alice", "scope": "openid", "...": "every verified claim, spread at the top level",
 *   "request_method": "GET", "request_path": ["geoapi", "collections", "obs"],
 *   "guard": { "subject": "alice", "scopes": ["openid"], "scheme": "jwt", "key_id": null,
 *              "client_id": "app", "issuer": "https://idp.example",
 *              "request": { "method": "GET", "path": "/geoapi/collections/obs", "segments": […], "query": {} } } }
 * ```
 *
 * @param request - The request as {@link policy} describes it.
 * @param pathPrefix - A prefix to strip from `request_path`.
 * @returns The `input` value.
 * @example
 * ```ts
 * import { opaInput } from '@keyfob/guard'
 * // In a Rego v1 policy: allow if { input.request_method == "GET"; "read" in input.guard.scopes }
 * ```
 */
export function opaInput(request: PolicyRequest, pathPrefix?: string): Record<string, unknown> {
  const { auth } = request
  let relative = request.path
  if (pathPrefix && (relative === pathPrefix || relative.startsWith(`${pathPrefix}/`))) {
    relative = relative.slice(pathPrefix.length) || '/'
  }
  return {
    ...auth.claims,
    request_method: request.method,
    request_path: relative.split('/').filter(Boolean),
    guard: {
      subject: auth.subject ?? null,
      scopes: auth.scopes,
      scheme: auth.scheme,
      key_id: auth.keyId ?? null,
      client_id: auth.clientId ?? null,
      issuer: auth.issuer ?? null,
      request: {
        method: request.method,
        path: request.path,
        segments: request.segments,
        query: request.query,
      },
    },
  }
}

/**
 * A {@link PolicyEngine} that asks OPA: `POST {url}/v1/data/{path}` with `{ "input": … }` (the
 * shape of {@link opaInput}), and allows when `result` is `true` or `result.allow` is `true`.
 * OPA answers an undefined decision with 200 and no `result`: that is a **deny** (403). A non-200
 * answer, a bad body, a network error or a timeout makes `decide` throw, which {@link policy} turns
 * into a 503: fail closed.
 *
 * @param options - OPA's URL, the decision path, a timeout.
 * @returns A policy engine for {@link policy}.
 * @throws GuardError `ERR_INVALID_OPTION` for a bad URL, path or timeout.
 * @see https://www.openpolicyagent.org/docs/rest-api#get-a-document-with-input
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { jwtAuth, opaPolicy, policy, type GuardEnv } from '@keyfob/guard'
 *
 * const app = new Hono<GuardEnv>()
 * app.use('*', jwtAuth({ issuer: 'https://idp.example', audience: 'https://api.example' }))
 * app.use('*', policy(opaPolicy({ url: 'http://127.0.0.1:8181', path: 'httpapi/authz' })))
 * ```
 */
export function opaPolicy(options: OpaPolicyOptions): PolicyEngine {
  const owner = 'opaPolicy'
  if (options === null || typeof options !== 'object') {
    throw new GuardError('ERR_MISSING_OPTION', `${owner}: options with url are required`)
  }
  const base = checkUrl(options.url, 'url', owner, true)
  const raw = options.path ?? 'httpapi/authz'
  if (typeof raw !== 'string' || !/^\/?[A-Za-z0-9_]+([./][A-Za-z0-9_]+)*\/?$/.test(raw)) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: path must be a decision path such as "httpapi/authz" or "httpapi.authz", got ${JSON.stringify(options.path)}`,
    )
  }
  const path = raw.replace(/\./g, '/').replace(/^\/+|\/+$/g, '')
  const timeoutMs = positiveInteger(options.timeoutMs, 1000, 'timeoutMs', owner)
  const endpoint = new URL(`v1/data/${path}`, base.href.endsWith('/') ? base.href : `${base.href}/`)
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init))
  return {
    name: 'opa',
    async decide(request: PolicyRequest): Promise<PolicyDecision> {
      const input = options.input ? await options.input(request) : opaInput(request, options.pathPrefix)
      const response = await fetchImpl(endpoint.href, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers },
        body: JSON.stringify({ input }),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      })
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => {})
        throw new Error(`OPA answered ${response.status} for ${endpoint.pathname}`)
      }
      let body: Record<string, unknown>
      try {
        body = await readJsonObject(response, 1024 * 1024)
      } catch (error) {
        throw new Error(`OPA's answer is not a JSON object: ${describe(error)}`)
      }
      const decisionId = typeof body.decision_id === 'string' ? ` (decision_id ${body.decision_id})` : ''
      if (!('result' in body)) return { allow: false, reason: `the decision is undefined${decisionId}` }
      const result = body.result
      if (result === true) return { allow: true, reason: `result true${decisionId}` }
      if (result !== null && typeof result === 'object' && (result as { allow?: unknown }).allow === true) {
        const reason = (result as { reason?: unknown }).reason
        return { allow: true, reason: typeof reason === 'string' ? reason : `result.allow true${decisionId}` }
      }
      const reason =
        result !== null && typeof result === 'object' ? (result as { reason?: unknown }).reason : undefined
      return { allow: false, reason: typeof reason === 'string' ? reason : `denied${decisionId}` }
    },
  }
}
