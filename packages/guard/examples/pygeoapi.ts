/**
 * The pygeoapi case: a small OGC API – Features-like app (landing page, OpenAPI, conformance,
 * collections, items), mounted at `/geoapi` as fastgeoapi mounts pygeoapi, with `/healthz` outside
 * the guard, protected in each of fastgeoapi's modes — done right.
 *
 * ```ts
 * import { jwtMode } from '@keyfob/guard/examples/pygeoapi.ts' // or copy this file
 * const app = jwtMode({ issuer: 'https://idp.example', audience: 'https://api.example/geoapi' })
 * export default app // Deno.serve / Bun.serve / @hono/node-server
 * ```
 */
import {
  apiKeyAuth,
  type FetchLike,
  type GuardEnv,
  guard,
  jwtAuth,
  oidcAuth,
  opaPolicy,
  policy,
  requireScopes,
} from '@keyfob/guard'
import { cedarPolicy } from '@keyfob/guard/cedar'
import { Hono, type MiddlewareHandler } from 'hono'

/** Collections and who owns them (`public`: everyone who is signed in). */
export const COLLECTIONS: Readonly<Record<string, { title: string; owner: string }>> = {
  obs: { title: 'Observations', owner: 'acme' },
  lakes: { title: 'Lakes', owner: 'public' },
}

/** Paths anyone may GET: the landing page, the API description, the conformance classes. */
export const PUBLIC_PATHS: readonly string[] = [
  'GET /geoapi',
  'GET /geoapi/openapi',
  'GET /geoapi/conformance',
]

/**
 * The API itself. `authenticate` runs on everything under `/geoapi` (minus its public paths);
 * `authorize` runs on the data routes (`/geoapi/collections…`), after authentication.
 */
export function createGeoApi(
  authenticate: MiddlewareHandler<GuardEnv>,
  ...authorize: MiddlewareHandler<GuardEnv>[]
): Hono<GuardEnv> {
  const geo = new Hono<GuardEnv>()
  geo.use('*', authenticate)
  if (authorize.length > 0) {
    geo.use('/collections', ...authorize)
    geo.use('/collections/*', ...authorize)
  }
  geo.get('/', (c) =>
    c.json({ title: 'keyfob geo API', links: [{ rel: 'data', href: '/geoapi/collections' }] }),
  )
  geo.get('/openapi', (c) => c.json({ openapi: '3.0.3', info: { title: 'keyfob geo API', version: '1.0' } }))
  geo.get('/conformance', (c) =>
    c.json({ conformsTo: ['http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core'] }),
  )
  geo.get('/collections', (c) =>
    c.json({ collections: Object.entries(COLLECTIONS).map(([id, { title }]) => ({ id, title })) }),
  )
  geo.get('/collections/:id', (c) => {
    const collection = COLLECTIONS[c.req.param('id')]
    if (!collection) return c.json({ code: 'NotFound' }, 404)
    return c.json({ id: c.req.param('id'), title: collection.title })
  })
  geo.get('/collections/:id/items', (c) => {
    if (!COLLECTIONS[c.req.param('id')]) return c.json({ code: 'NotFound' }, 404)
    return c.json({
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', id: 1, geometry: { type: 'Point', coordinates: [11.25, 43.77] }, properties: {} },
      ],
      // Who asked: the id of the API key, or the token's subject. Never the credential.
      requestedBy: c.var.auth.keyId ?? c.var.auth.subject ?? null,
    })
  })
  geo.post('/collections/:id/items', requireScopes('features:write'), (c) => c.json({ created: true }, 201))

  const app = new Hono<GuardEnv>()
  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.route('/geoapi', geo)
  return app
}

/** API-key mode: fastgeoapi's `API_KEY_ENABLED` + `PYGEOAPI_KEY_*`, hashed and constant-time. */
export function apiKeyMode(env: Readonly<Record<string, string | undefined>>): Hono<GuardEnv> {
  return createGeoApi(apiKeyAuth({ envPrefix: 'PYGEOAPI_KEY_', env, publicPaths: PUBLIC_PATHS }))
}

/** Where tokens come from, for the token modes. */
export interface IdpSettings {
  /** The issuer (discovery happens from it). */
  readonly issuer: string
  /** This API's audience. */
  readonly audience: string
  /** A `fetch` (tests pass the mock IdP's in-process one). */
  readonly fetch?: FetchLike
}

/** JWKS mode: fastgeoapi's `JWKS_ENABLED`, with `iss`/`aud`/`exp` required and the JWKS cached. */
export function jwtMode(idp: IdpSettings): Hono<GuardEnv> {
  return createGeoApi(jwtAuth({ ...idp, publicPaths: PUBLIC_PATHS }))
}

/** OIDC mode: discovery-driven JWTs plus introspection of opaque tokens (no redirects from an API). */
export function oidcMode(
  idp: IdpSettings & { readonly clientId: string; readonly clientSecret: string },
): Hono<GuardEnv> {
  const { clientId, clientSecret, ...rest } = idp
  return createGeoApi(
    oidcAuth({ ...rest, introspection: { clientId, clientSecret }, publicPaths: PUBLIC_PATHS }),
  )
}

/** Either a bearer token or an API key, tried in that order: an explicit, ordered combination. */
export function combinedMode(
  idp: IdpSettings,
  env: Readonly<Record<string, string | undefined>>,
): Hono<GuardEnv> {
  return createGeoApi(
    guard({
      schemes: [jwtAuth(idp), apiKeyAuth({ envPrefix: 'PYGEOAPI_KEY_', env })],
      combine: 'first-present',
      publicPaths: PUBLIC_PATHS,
    }),
  )
}

/**
 * OPA mode: fastgeoapi's `OPA_ENABLED`, but the token is verified locally first, a deny is 403
 * (fastgeoapi #321), and OPA being down is 503, not 500. Policy: `examples/policy.rego`.
 */
export function opaMode(idp: IdpSettings & { readonly opaUrl: string }): Hono<GuardEnv> {
  const { opaUrl, ...rest } = idp
  return createGeoApi(
    jwtAuth({ ...rest, publicPaths: PUBLIC_PATHS }),
    policy(opaPolicy({ url: opaUrl, path: 'httpapi/authz', pathPrefix: '/geoapi' })),
  )
}

/** The Cedar twin of `policy.rego`: per-company collections, writes need `features:write`. */
export const CEDAR_POLICIES = `
// Anyone signed in may list the collections.
permit (principal, action == Action::"list", resource);

// Reading a collection or its items: open collections for all, the others for their company.
permit (principal, action == Action::"read", resource is Collection)
when { resource.owner == "public" || (principal has company && resource.owner == principal.company) };

// Adding items: the owning company only, with the features:write scope.
permit (principal, action == Action::"write", resource is Collection)
when { principal has company && resource.owner == principal.company && context.scopes.contains("features:write") };
`

/** Cedar mode: the same rules as OPA mode, evaluated in process (no sidecar). */
export async function cedarMode(idp: IdpSettings): Promise<Hono<GuardEnv>> {
  const engine = await cedarPolicy({
    policies: CEDAR_POLICIES,
    action: ({ method, segments }) => ({
      type: 'Action',
      id: method !== 'GET' ? 'write' : segments.length <= 2 ? 'list' : 'read',
    }),
    resource: ({ segments }) =>
      segments.length <= 2 ? { type: 'Api', id: 'geoapi' } : { type: 'Collection', id: segments[2] ?? '' },
    entities: ({ auth, segments }) => {
      const id = segments[2]
      const collection = id === undefined ? undefined : COLLECTIONS[id]
      const company = auth.claims.company
      return [
        {
          uid: { type: 'User', id: auth.subject ?? '' },
          attrs: typeof company === 'string' ? { company } : {},
          parents: [],
        },
        ...(collection && id
          ? [{ uid: { type: 'Collection', id }, attrs: { owner: collection.owner }, parents: [] }]
          : []),
      ]
    },
  })
  return createGeoApi(jwtAuth({ ...idp, publicPaths: PUBLIC_PATHS }), policy(engine))
}
