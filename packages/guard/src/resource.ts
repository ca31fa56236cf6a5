/** RFC 9728 OAuth 2.0 Protected Resource Metadata: the well-known URL and the document. @module */
import type { Handler } from 'hono'
import { DEFAULT_DPOP_ALGORITHMS, type DpopOptions } from './dpop.ts'
import { GuardError } from './errors.ts'

/** Options of {@link protectedResourceMetadata}. */
export interface ProtectedResourceMetadataOptions {
  /** The resource identifier: an `https:` URL without query or fragment, e.g. `https://api.example/geoapi`. */
  readonly resource: string | URL
  /** Issuers of the authorization servers whose tokens this resource accepts. */
  readonly authorizationServers: readonly string[]
  /** The scopes this resource understands (`scopes_supported`). */
  readonly scopesSupported?: readonly string[]
  /** A human-readable name (`resource_name`). */
  readonly resourceName?: string
  /**
   * The `dpop` options this resource's guard uses (the same object works): the document then
   * advertises `dpop_signing_alg_values_supported` (`algorithms`, or the guard's defaults) and
   * `dpop_bound_access_tokens_required` (`required`, default `false`), RFC 9728 §2.
   */
  readonly dpop?: Pick<DpopOptions, 'algorithms' | 'required'>
  /** More metadata members, e.g. `resource_documentation`. */
  readonly extra?: Readonly<Record<string, unknown>>
}

/** The result of {@link protectedResourceMetadata}. */
export interface ProtectedResourceMetadata {
  /** Where the document lives: `/.well-known/oauth-protected-resource` plus the resource's path (RFC 9728 §3.1). */
  readonly path: string
  /** The absolute URL of the document: the value of `resource_metadata` in `WWW-Authenticate`. */
  readonly url: string
  /** The metadata document. */
  readonly document: Readonly<Record<string, unknown>>
  /** A Hono handler answering `GET` with the document. */
  readonly handler: Handler
}

/**
 * RFC 9728 protected resource metadata for one resource: the well-known URL derived from the
 * resource identifier (§3.1: `https://api.example/geoapi` → `https://api.example/.well-known/oauth-protected-resource/geoapi`),
 * the document (`resource`, `authorization_servers`, `bearer_methods_supported: ["header"]`, with
 * `dpop` also `dpop_signing_alg_values_supported` and `dpop_bound_access_tokens_required`, …),
 * and a handler to serve it. Give `url` to `jwtAuth`/`oidcAuth` as `resourceMetadata`, so
 * their 401 challenges carry `resource_metadata="…"` and OAuth clients (MCP clients among them)
 * can find the authorization server from the resource alone.
 *
 * @param options - The resource identifier, its authorization servers, scopes.
 * @returns The path, URL, document and handler.
 * @throws GuardError `ERR_INVALID_OPTION` for a resource that is not an absolute http(s) URL
 *   without query and fragment, or an empty `authorizationServers`.
 * @see https://www.rfc-editor.org/rfc/rfc9728
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { jwtAuth, protectedResourceMetadata } from '@keyfob/guard'
 *
 * const metadata = protectedResourceMetadata({
 *   resource: 'https://api.example/geoapi',
 *   authorizationServers: ['https://idp.example'],
 * })
 * const app = new Hono()
 * app.get(metadata.path, metadata.handler)
 * app.use(
 *   '/geoapi/*',
 *   jwtAuth({ issuer: 'https://idp.example', audience: 'https://api.example/geoapi', resourceMetadata: metadata.url }),
 * )
 * ```
 */
export function protectedResourceMetadata(
  options: ProtectedResourceMetadataOptions,
): ProtectedResourceMetadata {
  const owner = 'protectedResourceMetadata'
  let resource: URL
  try {
    resource = new URL(options.resource instanceof URL ? options.resource.href : String(options.resource))
  } catch {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: resource must be an absolute URL, got ${JSON.stringify(String(options.resource))}`,
    )
  }
  if ((resource.protocol !== 'https:' && resource.protocol !== 'http:') || resource.search || resource.hash) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: resource must be an https URL without query or fragment (RFC 9728 §1.2), got ${resource.href}`,
    )
  }
  const servers = options.authorizationServers
  if (
    !Array.isArray(servers) ||
    servers.length === 0 ||
    !servers.every((s) => typeof s === 'string' && s.length > 0)
  ) {
    throw new GuardError('ERR_INVALID_OPTION', `${owner}: authorizationServers must list at least one issuer`)
  }
  const identifier = resource.pathname === '/' ? resource.origin : `${resource.origin}${resource.pathname}`
  const suffix = resource.pathname === '/' ? '' : resource.pathname.replace(/\/$/, '')
  const path = `/.well-known/oauth-protected-resource${suffix}`
  const document: Record<string, unknown> = {
    resource: identifier,
    authorization_servers: [...servers],
    bearer_methods_supported: ['header'],
    ...(options.scopesSupported ? { scopes_supported: [...options.scopesSupported] } : {}),
    ...(options.resourceName !== undefined ? { resource_name: options.resourceName } : {}),
    ...(options.dpop !== undefined
      ? {
          dpop_signing_alg_values_supported: [...(options.dpop.algorithms ?? DEFAULT_DPOP_ALGORITHMS)],
          dpop_bound_access_tokens_required: options.dpop.required ?? false,
        }
      : {}),
    ...options.extra,
  }
  const body = JSON.stringify(document)
  return {
    path,
    url: `${resource.origin}${path}`,
    document,
    handler: (c) => c.body(body, 200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }),
  }
}
