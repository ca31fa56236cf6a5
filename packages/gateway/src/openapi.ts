/** Patching a proxied OpenAPI 3 document with the gateway's security, without fastgeoapi's defects. @module */

/** A security scheme object (OpenAPI 3.0 §4.7.27). */
export type SecurityScheme =
  | { readonly type: 'apiKey'; readonly in: 'header'; readonly name: string; readonly description?: string }
  | {
      readonly type: 'http'
      /** `bearer`, or `DPoP` (registered in IANA's HTTP Authentication Scheme registry by RFC 9449). */
      readonly scheme: 'bearer' | 'DPoP'
      readonly bearerFormat?: string
      readonly description?: string
    }
  | {
      readonly type: 'oauth2'
      readonly flows: {
        readonly clientCredentials: { readonly tokenUrl: string; readonly scopes: Record<string, string> }
      }
      readonly description?: string
    }
  | { readonly type: 'openIdConnect'; readonly openIdConnectUrl: string; readonly description?: string }

/** Options of {@link patchOpenApi}. */
export interface PatchOpenApiOptions {
  /**
   * The schemes by component name (names must match `^[a-zA-Z0-9.\-_]+$`). Each group is one way
   * of authenticating; schemes inside a group describe the same credential (a bearer JWT that an
   * `oauth2` flow also issues), so any one of them satisfies it.
   */
  readonly groups: readonly Readonly<Record<string, SecurityScheme>>[]
  /** `any`: one group suffices (alternatives); `all`: every group is required. */
  readonly combine: 'any' | 'all'
  /** Scopes protected operations need (listed for `oauth2` and `openIdConnect` schemes). */
  readonly scopes?: readonly string[]
  /** Whether an operation (`get`, `/collections/{id}`, as in the document) is public. */
  readonly isPublic?: (method: string, path: string) => boolean
}

const NAME = /^[a-zA-Z0-9.\-_]+$/
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const

/**
 * Returns a copy of an OpenAPI 3.x document with `components.securitySchemes` (one valid,
 * distinct name per scheme: fastgeoapi stored every scheme under one name with a space in it),
 * `security` on **every** operation that is not public, whatever its method (fastgeoapi skipped
 * `put`, `patch` and `head`), and `401` and `403` responses on them. Public operations are left
 * as they were. A document that is not OpenAPI 3 (no `openapi: "3…"` or no `paths`) comes back
 * unchanged.
 *
 * @param doc - The parsed document.
 * @param options - Schemes, how they combine, scopes, and which operations are public.
 * @returns The patched copy.
 * @throws TypeError for a scheme name outside `^[a-zA-Z0-9.\-_]+$`.
 * @example
 * ```ts
 * import { patchOpenApi } from '@keyfob/gateway'
 *
 * const patched = patchOpenApi(
 *   { openapi: '3.0.2', info: { title: 't', version: '1' }, paths: { '/items': { get: { responses: {} } } } },
 *   { groups: [{ ApiKey: { type: 'apiKey', in: 'header', name: 'X-API-KEY' } }], combine: 'any' },
 * )
 * console.log(patched.paths) // /items get now has security: [{ ApiKey: [] }]
 * ```
 */
export function patchOpenApi(
  doc: Readonly<Record<string, unknown>>,
  options: PatchOpenApiOptions,
): Record<string, unknown> {
  for (const group of options.groups) {
    for (const name of Object.keys(group)) {
      if (!NAME.test(name))
        throw new TypeError(`security scheme name ${JSON.stringify(name)} must match ${NAME}`)
    }
  }
  const copy = structuredClone(doc) as Record<string, unknown>
  if (typeof copy.openapi !== 'string' || !copy.openapi.startsWith('3.') || !isObject(copy.paths)) return copy
  const components = isObject(copy.components) ? copy.components : {}
  const schemes = isObject(components.securitySchemes) ? components.securitySchemes : {}
  for (const group of options.groups) Object.assign(schemes, group)
  components.securitySchemes = schemes
  copy.components = components

  const scopes = [...(options.scopes ?? [])]
  const requirementOf = (name: string, scheme: SecurityScheme) =>
    ({ [name]: scheme.type === 'oauth2' || scheme.type === 'openIdConnect' ? scopes : [] }) as Record<
      string,
      string[]
    >
  // `any`: every scheme of every group is an alternative. `all`: one requirement per combination
  // of one scheme from each group.
  let security: Record<string, string[]>[]
  if (options.combine === 'any') {
    security = options.groups.flatMap((g) => Object.entries(g).map(([n, s]) => requirementOf(n, s)))
  } else {
    security = [{}]
    for (const group of options.groups) {
      security = security.flatMap((partial) =>
        Object.entries(group).map(([n, s]) => ({ ...partial, ...requirementOf(n, s) })),
      )
    }
  }
  for (const [path, item] of Object.entries(copy.paths as Record<string, unknown>)) {
    if (!isObject(item)) continue
    for (const method of METHODS) {
      const operation = item[method]
      if (!isObject(operation)) continue
      if (options.isPublic?.(method, path)) continue
      operation.security = security.map((r) => ({ ...r }))
      const responses = isObject(operation.responses) ? operation.responses : {}
      responses['401'] ??= { description: 'Unauthorized: the credential is missing or invalid' }
      responses['403'] ??= {
        description: 'Forbidden: the credential lacks a required scope or the policy denies the request',
      }
      operation.responses = responses
    }
  }
  return copy
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
