/** fastgeoapi's OPA input: the IdP's userinfo answer for the caller's token, the whole path. @module */
import { opaInput, opaPolicy, type PolicyEngine, type PolicyRequest } from '@keyfob/guard'

/** What the OPA engine of {@link fastgeoapiOpa} needs to know. */
export interface FastgeoapiOpaOptions {
  /** OPA's base URL. */
  readonly url: string
  /** The decision path, e.g. `httpapi/authz`. */
  readonly path: string
  /** The OIDC issuer whose discovery document names the userinfo endpoint. */
  readonly issuer: string
  /** The `fetch` for discovery, userinfo and OPA. */
  readonly fetch: typeof fetch
  /** Give up on discovery or userinfo after this long (then the request is a 503); default 2000 ms. */
  readonly timeoutMs?: number
}

type Userinfo = { readonly claims: Record<string, unknown> } | { readonly refused: string }

/**
 * An OPA engine with the input document fastgeoapi's OPA mode (fastapi-opa's `OPAMiddleware` with
 * `OIDCAuthentication`) sends: the JSON the IdP's userinfo endpoint answers for the caller's
 * bearer token, spread at the top level (so a policy reads `input.company`), then
 * `request_method` and `request_path` (the whole request path split on `/`, the mount segment
 * included), plus keyfob's `guard` block. The token has already been verified by the guard (issuer,
 * audience, signature or introspection), which fastgeoapi never does. A token the userinfo
 * endpoint refuses (401, 403: for example one without the `openid` scope) is denied; an
 * unreachable IdP or OPA is a 503, as the guard's `policy` makes every engine failure.
 *
 * @param options - OPA, the issuer, the `fetch`.
 * @returns The engine, for the guard's `policy`.
 */
export function fastgeoapiOpa(options: FastgeoapiOpaOptions): PolicyEngine {
  const timeoutMs = options.timeoutMs ?? 2000
  const fetchImpl = options.fetch
  const documents = new WeakMap<PolicyRequest, Record<string, unknown>>()
  const opa = opaPolicy({
    url: options.url,
    path: options.path,
    fetch: fetchImpl,
    input: (request) => documents.get(request) ?? opaInput(request),
  })
  let endpoint: Promise<string> | undefined

  /** GETs JSON within the timeout: a held timer, no AbortSignal.timeout. */
  async function getJson(url: string, headers: Record<string, string>): Promise<Response> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), timeoutMs)
    try {
      return await fetchImpl(url, {
        headers: { accept: 'application/json', ...headers },
        redirect: 'manual',
        signal: controller.signal,
      })
    } catch (error) {
      throw new Error(
        controller.signal.aborted
          ? `${url} did not answer within ${timeoutMs} ms`
          : `${url} could not be reached`,
        { cause: error },
      )
    } finally {
      clearTimeout(timer)
    }
  }

  /** The userinfo endpoint from the issuer's discovery document (fetched once; retried after a failure). */
  function userinfoEndpoint(): Promise<string> {
    endpoint ??= (async () => {
      const url = `${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
      const response = await getJson(url, {})
      if (response.status !== 200) {
        await response.body?.cancel()
        throw new Error(`${url} answered ${response.status}`)
      }
      const document = (await response.json()) as { issuer?: unknown; userinfo_endpoint?: unknown }
      if (document.issuer !== options.issuer) {
        throw new Error(`${url} names issuer ${JSON.stringify(document.issuer)}, not ${options.issuer}`)
      }
      if (typeof document.userinfo_endpoint !== 'string') {
        throw new Error(`${url} has no userinfo_endpoint, which fastgeoapi's OPA input needs`)
      }
      return document.userinfo_endpoint
    })()
    endpoint.catch(() => {
      endpoint = undefined
    })
    return endpoint
  }

  async function userinfo(token: string): Promise<Userinfo> {
    const url = await userinfoEndpoint()
    const response = await getJson(url, { authorization: `Bearer ${token}` })
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel()
      return { refused: `the userinfo endpoint refused the token (${response.status})` }
    }
    if (response.status !== 200) {
      await response.body?.cancel()
      throw new Error(`the userinfo endpoint answered ${response.status}`)
    }
    const claims = (await response.json()) as unknown
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
      throw new Error('the userinfo endpoint did not answer a JSON object')
    }
    return { claims: claims as Record<string, unknown> }
  }

  return {
    name: 'opa',
    async decide(request) {
      const header = request.context.req.header('authorization') ?? ''
      const bearer = /^bearer +(\S+)$/i.exec(header.trim())
      // A caller without a bearer token (an API key in a combination) brings its verified claims.
      let claims: Record<string, unknown> = { ...request.auth.claims }
      if (bearer) {
        const answer = await userinfo(bearer[1] as string)
        if ('refused' in answer) return { allow: false, reason: answer.refused }
        claims = answer.claims
      }
      const keyfob = opaInput(request)
      documents.set(request, {
        ...claims,
        request_method: request.method,
        request_path: request.path.split('/').slice(1),
        guard: keyfob.guard,
      })
      return opa.decide(request)
    },
  }
}
