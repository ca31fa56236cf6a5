/**
 * `@keyfob/guard/cedar`: an in-process Cedar policy engine for {@link policy}, on
 * `@cedar-policy/cedar-wasm`. A separate entry point, so the main one never loads 4 MB of wasm.
 *
 * @module
 */
import type {
  AuthorizationAnswer,
  Context as CedarContext,
  CedarValueJson,
  CheckParseAnswer,
  EntityJson,
  EntityUid,
  PolicySet,
  Schema,
  StatefulAuthorizationCall,
} from '@cedar-policy/cedar-wasm/nodejs'
import type { PolicyDecision, PolicyEngine, PolicyRequest } from './authorize.ts'
import { GuardError } from './errors.ts'

export type { PolicyEngine, PolicyRequest } from './authorize.ts'
export { policy } from './authorize.ts'

/** The functions of `@cedar-policy/cedar-wasm` the engine uses (any of its builds fits). */
export interface CedarModule {
  /** Parses and caches a policy set under an id. */
  preparsePolicySet(id: string, policies: PolicySet): CheckParseAnswer
  /** Parses and caches a schema under a name. */
  preparseSchema(name: string, schema: Schema): CheckParseAnswer
  /** Authorizes against preparsed policies. */
  statefulIsAuthorized(call: StatefulAuthorizationCall): AuthorizationAnswer
}

/** Options of {@link cedarPolicy}. */
export interface CedarPolicyOptions {
  /** The policies, in Cedar syntax (one text, or a record of policy id to text). */
  readonly policies: string | Readonly<Record<string, string>>
  /**
   * The principal. Default: `User::"<sub>"` for tokens, `ApiKey::"<key id>"` for API keys; its
   * attributes are the verified claims that Cedar can represent (strings, booleans, integers,
   * sets and records of them), so a policy can say `principal.company == "acme"`.
   */
  readonly principal?: (request: PolicyRequest) => EntityUid
  /** The action. Default `Action::"<METHOD>"`, e.g. `Action::"GET"`. */
  readonly action?: (request: PolicyRequest) => EntityUid
  /** The resource. Default `Path::"<path>"`, e.g. `Path::"/collections/obs/items"`. */
  readonly resource?: (request: PolicyRequest) => EntityUid
  /**
   * The context record. Default `{ scopes: [...], scheme: "jwt", path: [...segments] }`, so a
   * policy can say `context.scopes.contains("read")`.
   */
  readonly context?: (request: PolicyRequest) => CedarContext
  /** More entities (resources, groups). Default: only the principal with its claims. */
  readonly entities?: (request: PolicyRequest) => readonly EntityJson[]
  /** A Cedar schema; when given, every request is validated against it (`validateRequest`). */
  readonly schema?: Schema
  /**
   * The Cedar module. Default: `@cedar-policy/cedar-wasm/nodejs`, loaded on first use (Node, Deno,
   * Bun). For browsers or workers, pass the `web` build after its `init()`.
   */
  readonly module?: CedarModule
}

let counter = 0

/**
 * Builds a Cedar {@link PolicyEngine}: policies are parsed once, at startup (a syntax error is a
 * `GuardError`, not a 500 later), then each request is one in-process `isAuthorized` call, with
 * no network and no sidecar. `permit` → allow; no permit or a `forbid` → 403; an evaluation
 * failure → deny (fail closed).
 *
 * @param options - The policies and how requests map to principal, action, resource and context.
 * @returns A policy engine for {@link policy}.
 * @throws GuardError `ERR_INVALID_POLICY` when the policies or the schema do not parse (with Cedar's
 *   diagnostics in the message and `cause`); `ERR_MISSING_OPTION` without policies.
 * @see https://docs.cedarpolicy.com/
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { jwtAuth, type GuardEnv } from '@keyfob/guard'
 * import { cedarPolicy, policy } from '@keyfob/guard/cedar'
 *
 * const engine = await cedarPolicy({
 *   policies: `permit(principal, action == Action::"GET", resource) when { context.scopes.contains("read") };`,
 * })
 * const app = new Hono<GuardEnv>()
 * app.use('*', jwtAuth({ issuer: 'https://idp.example', audience: 'https://api.example' }))
 * app.use('*', policy(engine))
 * ```
 */
export async function cedarPolicy(options: CedarPolicyOptions): Promise<PolicyEngine> {
  const owner = 'cedarPolicy'
  if (options === null || typeof options !== 'object' || options.policies === undefined) {
    throw new GuardError('ERR_MISSING_OPTION', `${owner}: policies (Cedar text) are required`)
  }
  const policies = options.policies
  if (
    typeof policies !== 'string' &&
    !(policies && typeof policies === 'object' && Object.values(policies).every((p) => typeof p === 'string'))
  ) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: policies must be Cedar text or a record of id to Cedar text`,
    )
  }
  const cedar: CedarModule =
    options.module ?? ((await import('@cedar-policy/cedar-wasm/nodejs')) as CedarModule)
  const id = `keyfob-guard-${++counter}-${crypto.randomUUID()}`
  const parsed = cedar.preparsePolicySet(id, { staticPolicies: policies as string | Record<string, string> })
  if (parsed.type !== 'success') {
    throw new GuardError(
      'ERR_INVALID_POLICY',
      `${owner}: the policies do not parse: ${messages(parsed.errors)}`,
      {
        cause: parsed.errors,
      },
    )
  }
  let schemaName: string | undefined
  if (options.schema !== undefined) {
    schemaName = `${id}-schema`
    const schema = cedar.preparseSchema(schemaName, options.schema)
    if (schema.type !== 'success') {
      throw new GuardError(
        'ERR_INVALID_POLICY',
        `${owner}: the schema does not parse: ${messages(schema.errors)}`,
        {
          cause: schema.errors,
        },
      )
    }
  }
  return {
    name: 'cedar',
    decide(request: PolicyRequest): PolicyDecision {
      const principal = options.principal ? options.principal(request) : defaultPrincipal(request)
      const entities = options.entities
        ? [...options.entities(request)]
        : [{ uid: principal, attrs: cedarRecord(request.auth.claims), parents: [] }]
      const answer = cedar.statefulIsAuthorized({
        principal,
        action: options.action ? options.action(request) : { type: 'Action', id: request.method },
        resource: options.resource ? options.resource(request) : { type: 'Path', id: request.path },
        context: options.context
          ? options.context(request)
          : { scopes: [...request.auth.scopes], scheme: request.auth.scheme, path: [...request.segments] },
        preparsedPolicySetId: id,
        ...(schemaName !== undefined ? { preparsedSchemaName: schemaName, validateRequest: true } : {}),
        entities,
      })
      if (answer.type !== 'success')
        return { allow: false, reason: `evaluation failed: ${messages(answer.errors)}` }
      const { decision, diagnostics } = answer.response
      const reason =
        diagnostics.reason.length > 0
          ? `policies ${diagnostics.reason.join(', ')}`
          : diagnostics.errors.length > 0
            ? `errors in ${diagnostics.errors.map((e) => e.policyId).join(', ')}`
            : 'no policy permits it'
      return { allow: decision === 'allow', reason }
    },
  }
}

function defaultPrincipal(request: PolicyRequest): EntityUid {
  const { auth } = request
  if (auth.scheme === 'apiKey') return { type: 'ApiKey', id: auth.keyId ?? 'unknown' }
  return { type: 'User', id: auth.subject ?? auth.clientId ?? 'unknown' }
}

/** Claims Cedar can represent; everything else (null, floats, entity escapes) is left out. */
function cedarRecord(claims: Readonly<Record<string, unknown>>): Record<string, CedarValueJson> {
  const out: Record<string, CedarValueJson> = {}
  for (const [k, v] of Object.entries(claims)) {
    const value = cedarValue(v, 0)
    if (value !== undefined) out[k] = value
  }
  return out
}

function cedarValue(value: unknown, depth: number): CedarValueJson | undefined {
  if (depth > 8) return undefined
  if (typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  if (Array.isArray(value)) {
    const items = value.map((v) => cedarValue(v, depth + 1)).filter((v) => v !== undefined)
    return items as CedarValueJson[]
  }
  if (value !== null && typeof value === 'object') {
    // `__entity` / `__extn` would turn a claim into an entity reference: never from a token.
    if ('__entity' in value || '__extn' in value) return undefined
    const out: Record<string, CedarValueJson> = {}
    for (const [k, v] of Object.entries(value)) {
      const inner = cedarValue(v, depth + 1)
      if (inner !== undefined) out[k] = inner
    }
    return out
  }
  return undefined
}

function messages(errors: readonly { readonly message: string }[]): string {
  return errors.map((e) => e.message).join('; ')
}
