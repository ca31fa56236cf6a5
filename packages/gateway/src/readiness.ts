/** `/readyz`: are the guard's dependencies reachable, or were they recently? @module */
import type { GatewaySettings } from './config.ts'

/** One dependency's state. */
export interface DependencyState {
  /** Reachable now, or at most ten minutes ago (as long as the guard keeps cached keys). */
  readonly ok: boolean
  /** The URL checked. */
  readonly url: string
  /** When it last answered, ISO 8601. */
  readonly lastSuccess?: string
  /** Why the last check failed (a status or network error code; never a body). */
  readonly error?: string
}

/** The `/readyz` document. */
export interface Readiness {
  /** Whether every dependency is `ok`. */
  readonly ready: boolean
  /** Each dependency by name (`jwks`, `discovery`, `opa`, …). */
  readonly checks: Readonly<Record<string, DependencyState>>
}

/** A success counts this long, as the JWKS cache does. */
const FRESH_MS = 600_000
/** A failed or missing check is retried at most this often. */
const RETRY_MS = 5000

/**
 * Checks the dependencies the settings name: the JWKS URL or the issuer's discovery document,
 * the OIDC issuer's discovery document, OPA's `/health`. Results are remembered so `/readyz` does
 * not hammer an IdP: a success for ten minutes, a failure for five seconds.
 */
export function createReadiness(
  settings: GatewaySettings,
  fetchImpl: typeof fetch,
): () => Promise<Readiness> {
  const targets: Record<string, string> = {}
  if (settings.jwksUrl !== undefined) targets.jwks = settings.jwksUrl
  else if (settings.jwtIssuer !== undefined) targets.discovery = discoveryUrl(settings.jwtIssuer)
  if (settings.oidcIssuer !== undefined) targets.oidc_discovery = discoveryUrl(settings.oidcIssuer)
  if (settings.opaUrl !== undefined) targets.opa = new URL('health', withSlash(settings.opaUrl)).href
  const state = new Map<string, { lastSuccess?: number; lastCheck?: number; error?: string }>()
  const inflight = new Map<string, Promise<void>>()

  async function probe(name: string, url: string): Promise<void> {
    const entry = state.get(name) ?? {}
    try {
      const response = await fetchImpl(url, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(2000),
      })
      await response.body?.cancel().catch(() => {})
      if (response.status === 200) {
        entry.lastSuccess = Date.now()
        delete entry.error
      } else entry.error = `answered ${response.status}`
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause
      entry.error = typeof cause?.code === 'string' ? cause.code : (error as Error).name
    }
    entry.lastCheck = Date.now()
    state.set(name, entry)
  }

  return async function ready(): Promise<Readiness> {
    const now = Date.now()
    await Promise.all(
      Object.entries(targets).map(([name, url]) => {
        const entry = state.get(name)
        const fresh = entry?.lastSuccess !== undefined && now - entry.lastSuccess < RETRY_MS
        const recentlyFailed = entry?.lastCheck !== undefined && now - entry.lastCheck < RETRY_MS
        if (fresh || recentlyFailed) return undefined
        let flight = inflight.get(name)
        if (!flight) {
          flight = probe(name, url).finally(() => inflight.delete(name))
          inflight.set(name, flight)
        }
        return flight
      }),
    )
    const checks: Record<string, DependencyState> = {}
    for (const [name, url] of Object.entries(targets)) {
      const entry = state.get(name) ?? {}
      const ok = entry.lastSuccess !== undefined && Date.now() - entry.lastSuccess < FRESH_MS
      checks[name] = {
        ok,
        url,
        ...(entry.lastSuccess !== undefined
          ? { lastSuccess: new Date(entry.lastSuccess).toISOString() }
          : {}),
        ...(entry.error !== undefined ? { error: entry.error } : {}),
      }
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks }
  }
}

function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`
}
