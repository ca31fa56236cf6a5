/** `createMockIdp`: one mock OpenID provider, in-process. @module */
import type { Hono } from 'hono'
import { createApp, DROPPED_HEADER } from './app.ts'
import { createControl, type MockIdpControl } from './control.ts'
import { Provider } from './provider.ts'
import type { MockIdpOptions } from './types.ts'

/** The options {@link MockIdpFetch} reads: those of `fetch`, with `undefined` allowed everywhere. */
export interface MockIdpFetchInit {
  /** The HTTP method; default GET. */
  readonly method?: string | undefined
  /** Request headers. */
  readonly headers?: HeadersInit | undefined
  /** The request body. */
  readonly body?: BodyInit | Uint8Array | null | undefined
  /** Accepted for compatibility; the in-process fetch never follows redirects. */
  readonly redirect?: RequestRedirect | undefined
  /** Aborts the request. */
  readonly signal?: AbortSignal | null | undefined
}

/**
 * An in-process `fetch`. Its type is wider than `typeof fetch`, so it fits both a plain `fetch`
 * parameter and oauth4webapi's / openid-client's `customFetch` under `exactOptionalPropertyTypes`.
 */
export type MockIdpFetch = (input: string | URL | Request, init?: MockIdpFetchInit) => Promise<Response>

/** A running mock IdP: the Hono app, its issuer, an in-process `fetch`, and the control plane. */
export interface MockIdp {
  /** The Hono app; mount it in another app, or serve it with any Hono adapter. */
  readonly app: Hono
  /** The issuer identifier, e.g. `https://mock-idp.test`. */
  readonly issuer: string
  /**
   * A `fetch` that answers from the app in-process, with no socket: pass it to a client's
   * `customFetch`. A dropped-connection fault makes it reject with a `TypeError`, as a real
   * network error would.
   */
  readonly fetch: MockIdpFetch
  /** Drives the IdP from a test. */
  readonly control: MockIdpControl
  /** Shorthand for `control.reset()`. */
  reset(): void
}

/**
 * Creates a mock OpenID provider: discovery, JWKS, authorize, token (authorization code + PKCE,
 * device code, client credentials, password, refresh token with rotation), device authorization,
 * userinfo, introspection, revocation, end-session, dynamic registration and pushed authorization
 * requests (RFC 9126), with DPoP-bound tokens (RFC 9449) and resource indicators (RFC 8707), plus
 * a control plane. Strict by default: PKCE S256 for public clients, exact redirect URIs,
 * single-use codes, real client authentication, every DPoP proof check of RFC 9449 §4.3.
 *
 * @param options - Users, clients, lifetimes, signing algorithm; all optional.
 * @returns The mock IdP, ready to answer (a few milliseconds with the default RS256 key).
 * @throws MockIdpError `ERR_INVALID_OPTION` for a bad option, user or client.
 * @see https://openid.net/specs/openid-connect-core-1_0.html
 * @example
 * ```ts
 * import { createMockIdp } from '@keyfob/mock-idp'
 *
 * const idp = await createMockIdp({
 *   clients: [{ clientId: 'cli', redirectUris: ['http://127.0.0.1/callback'] }],
 * })
 * const res = await idp.fetch(`${idp.issuer}/.well-known/openid-configuration`)
 * console.log((await res.json()).token_endpoint) // https://mock-idp.test/token
 * ```
 */
export async function createMockIdp(options: MockIdpOptions = {}): Promise<MockIdp> {
  const provider = new Provider(options)
  await provider.init()
  return assemble(provider)
}

/** @internal */
export function assemble(provider: Provider): MockIdp & { readonly provider: Provider } {
  const control = createControl(provider)
  const app = createApp(provider, control)
  const inProcess: MockIdpFetch = async (input, init) => {
    const signal = init?.signal ?? undefined
    signal?.throwIfAborted()
    const request = new Request(input, init as RequestInit | undefined)
    // Like a real fetch, an abort (or a timeout signal) rejects while the answer is pending.
    const response = await (signal
      ? Promise.race([
          app.fetch(request),
          new Promise<never>((_, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
          ),
        ])
      : app.fetch(request))
    if (response.headers.has(DROPPED_HEADER)) {
      await response.body?.cancel().catch(() => {})
      throw new TypeError('fetch failed', {
        cause: new Error('connection dropped by the mock IdP fault rules'),
      })
    }
    return response
  }
  return {
    app,
    get issuer() {
      return provider.issuer
    },
    fetch: inProcess,
    control,
    reset: () => control.reset(),
    provider,
  }
}
