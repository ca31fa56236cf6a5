/** Public paths and CORS preflights: what passes without a credential. @internal @module */
import type { Context } from 'hono'
import { GuardError } from './errors.ts'
import type { PublicPath } from './types.ts'

interface Rule {
  readonly methods: ReadonlySet<string> | undefined
  readonly segments: readonly string[]
  readonly rest: boolean
}

const METHOD = /^[A-Z]+$/

/** Compiles public path rules once; throws on anything ambiguous. */
export function compilePublicPaths(
  paths: readonly PublicPath[] | undefined,
  owner: string,
): ((method: string, path: string) => boolean) | undefined {
  if (paths === undefined || paths.length === 0) return undefined
  if (!Array.isArray(paths)) {
    throw new GuardError('ERR_INVALID_OPTION', `${owner}: publicPaths must be an array of strings`)
  }
  const rules = paths.map((entry): Rule => {
    if (typeof entry !== 'string') {
      throw new GuardError('ERR_INVALID_OPTION', `${owner}: publicPaths entries must be strings`)
    }
    const parts = entry.trim().split(/\s+/)
    const [first, second] = parts
    let method: string | undefined
    let path: string
    if (parts.length === 2 && first !== undefined && second !== undefined) {
      if (!METHOD.test(first)) {
        throw new GuardError(
          'ERR_INVALID_OPTION',
          `${owner}: publicPaths entry ${JSON.stringify(entry)}: the method must be upper case, e.g. "GET /openapi"`,
        )
      }
      method = first
      path = second
    } else if (parts.length === 1 && first !== undefined) {
      path = first
    } else {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: publicPaths entry ${JSON.stringify(entry)} must be "/path" or "METHOD /path"`,
      )
    }
    if (!path.startsWith('/')) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: publicPaths entry ${JSON.stringify(entry)} must start with "/" (paths are matched exactly, not as regular expressions)`,
      )
    }
    const segments = path.split('/').slice(1)
    const rest = segments[segments.length - 1] === '*'
    if (rest) segments.pop()
    for (const s of segments) {
      if (s.includes('*') || (s.includes(':') && !/^:[A-Za-z_][A-Za-z0-9_]*$/.test(s))) {
        throw new GuardError(
          'ERR_INVALID_OPTION',
          `${owner}: publicPaths entry ${JSON.stringify(entry)}: "*" may only be the whole last segment and ":name" a whole segment`,
        )
      }
    }
    const methods = method === undefined ? undefined : new Set(method === 'GET' ? ['GET', 'HEAD'] : [method])
    return { methods, segments, rest }
  })
  // Per request: the path is walked segment by segment in place (no split, no closures), and only
  // for rules whose method matches.
  return (method, path) => {
    for (const rule of rules) {
      if (rule.methods && !rule.methods.has(method)) continue
      if (matches(rule.segments, rule.rest, path)) return true
    }
    return false
  }
}

/**
 * Whether `path` (starting with `/`) has exactly the rule's segments (`:name` matching any
 * non-empty one) or, for a rule ending in `/*`, those and at least one more (possibly empty).
 */
function matches(segments: readonly string[], rest: boolean, path: string): boolean {
  // `start` is where the next segment begins; past the end, the path has no segments left.
  let start = 1
  for (const segment of segments) {
    if (start > path.length) return false
    let end = path.indexOf('/', start)
    if (end === -1) end = path.length
    if (segment.charCodeAt(0) === 58 /* ':' */) {
      if (end === start) return false
    } else if (end - start !== segment.length || !path.startsWith(segment, start)) {
      return false
    }
    start = end + 1
  }
  return rest === start <= path.length
}

/** A real CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`. */
export function isPreflight(c: Context): boolean {
  return (
    c.req.method === 'OPTIONS' &&
    c.req.header('origin') !== undefined &&
    c.req.header('access-control-request-method') !== undefined
  )
}
