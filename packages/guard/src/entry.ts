/** The request pipeline every entry point shares: public paths, preflight, schemes, response. @internal @module */
import type { Context, MiddlewareHandler } from 'hono'
import { GuardError } from './errors.ts'
import { compilePublicPaths, isPreflight } from './paths.ts'
import { allowEvent, denialEvent, deny, emit, MISSING } from './respond.ts'
import type { AuthInfo, Denial, EntryOptions, GuardScheme, SchemeOutcome } from './types.ts'

/** How several schemes combine in one entry point. */
export type Combine = 'first-present' | 'all'

/**
 * Which entry point authenticated a request, so a second one on the same request is caught: a
 * symbol-keyed mark on the `Request` itself (a plain property write, where a `WeakMap` entry per
 * request cost an ephemeron for the garbage collector to trace).
 */
const OWNER: unique symbol = Symbol('keyfob.guard.owner')
type Owned = Request & { [OWNER]?: object }

/** Builds the middleware for one entry point. */
export function createEntry(
  name: string,
  schemes: readonly GuardScheme[],
  combine: Combine,
  options: EntryOptions,
): MiddlewareHandler {
  const isPublic = compilePublicPaths(options.publicPaths, name)
  const corsPreflight = options.corsPreflight ?? false
  if ((corsPreflight as unknown) === true) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${name}: corsPreflight takes the CORS middleware itself, e.g. corsPreflight: cors({ origin: 'https://app.example' }), so the guard answers preflights with it and never passes one to a route; or put cors() before the guard and leave corsPreflight unset`,
    )
  }
  if (corsPreflight !== false && typeof corsPreflight !== 'function') {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${name}: corsPreflight must be a CORS middleware (hono/cors) or false`,
    )
  }
  const onEvent = options.onEvent
  if (onEvent !== undefined && typeof onEvent !== 'function') {
    throw new GuardError('ERR_INVALID_OPTION', `${name}: onEvent must be a function`)
  }
  const token = {}
  const challenges = (first: GuardScheme | undefined, denial: Denial): string[] => {
    const ordered = first ? [first, ...schemes.filter((s) => s !== first)] : schemes
    return ordered.flatMap((s, i) =>
      s.challenges ? s.challenges(i === 0 ? denial : undefined) : [s.challenge()],
    )
  }
  const missing = (): Denial => (schemes.length === 1 ? (schemes[0]?.missing ?? MISSING) : MISSING)

  const only = schemes.length === 1 ? (schemes[0] as GuardScheme) : undefined

  async function authenticate(c: Context): Promise<{ outcome: SchemeOutcome; scheme?: GuardScheme }> {
    if (combine === 'first-present') {
      const scheme = schemes.find((s) => s.present(c))
      if (!scheme) return { outcome: { ok: false, denial: missing() } }
      return { outcome: await scheme.authenticate(c), scheme }
    }
    const results: AuthInfo<Record<string, unknown>>[] = []
    for (const scheme of schemes) {
      if (!scheme.present(c)) return { outcome: { ok: false, denial: MISSING }, scheme }
      const outcome = await scheme.authenticate(c)
      if (!outcome.ok) return { outcome, scheme }
      results.push(outcome.auth)
    }
    const [first] = results as [AuthInfo<Record<string, unknown>>]
    return { outcome: { ok: true, auth: { ...first, factors: results } } }
  }

  const entry: MiddlewareHandler = async (c: Context, next) => {
    const path = c.req.path
    const method = c.req.method
    if (isPublic?.(method, path)) {
      emit(onEvent, c, name, { outcome: 'allow', reason: 'public' })
      return next()
    }
    if (corsPreflight && isPreflight(c)) {
      emit(onEvent, c, name, { outcome: 'allow', reason: 'preflight' })
      // Only the CORS middleware answers: its `next` is a no-op, so no route ever runs for a
      // preflight the guard did not authenticate (`app.all`, `app.on(['OPTIONS', …])`, 404s).
      const answer = await corsPreflight(c, async () => {})
      return answer instanceof Response ? answer : c.body(null, 204)
    }
    const raw = c.req.raw as Owned
    const owner = raw[OWNER]
    if (owner === token) return next()
    if (owner !== undefined) {
      throw new GuardError(
        'ERR_AMBIGUOUS_SCHEMES',
        `${name}: this request was already authenticated by another guard middleware; two schemes stacked on one route do not say how they combine. Use guard({ schemes: [...], combine: 'first-present' | 'all' }) instead`,
      )
    }
    let outcome: SchemeOutcome
    let scheme: GuardScheme | undefined
    if (only !== undefined) {
      // One scheme (jwtAuth, apiKeyAuth, … on their own): no combining, no wrapper promise.
      if (only.present(c)) {
        scheme = only
        outcome = await only.authenticate(c)
      } else outcome = { ok: false, denial: missing() }
    } else ({ outcome, scheme } = await authenticate(c))
    if (!outcome.ok) {
      emit(onEvent, c, scheme?.name ?? name, denialEvent(outcome.denial))
      return deny(c, outcome.denial, challenges(scheme, outcome.denial))
    }
    raw[OWNER] = token
    c.set('auth', outcome.auth)
    if (onEvent) emit(onEvent, c, scheme?.name ?? name, allowEvent(outcome.auth))
    const headers = outcome.headers
    if (headers === undefined) return next()
    // Before the route, so a route that writes its response itself (a streaming proxy on Node)
    // finds them among the context's prepared headers (`c.res.headers`) …
    for (const key in headers) c.header(key, headers[key] as string)
    await next()
    // … and after it, for a route that returned its own Response in place of the prepared one:
    // c.header on a finished response re-wraps it.
    for (const key in headers) {
      const value = headers[key] as string
      if (c.res.headers.get(key) !== value) c.header(key, value)
    }
  }
  // Named after the factory, as Hono's middlewares are (`jwtAuth`, `guard`, …), for stack traces.
  Object.defineProperty(entry, 'name', { value: name })
  return entry
}
