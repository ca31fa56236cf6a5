/** Fault injection: make the next N calls of an endpoint fail in a chosen way. @module */
import type { EndpointName } from './journal.ts'

/** How to break an endpoint. Give one of `status`/`error`, `body`, `malformedJson`, `drop`, or only `delayMs`. */
export interface FaultRule {
  /** The endpoint to break, or `*` for every endpoint except the control plane. */
  readonly endpoint: EndpointName | '*'
  /** Answer with this status: default 400 with `error`, 500 with `body`, 200 with `malformedJson`. */
  readonly status?: number
  /** Answer with this OAuth error code in a JSON error body. */
  readonly error?: string
  /** The `error_description` to go with `error`. */
  readonly errorDescription?: string
  /** Wait this long before answering (or before failing). */
  readonly delayMs?: number
  /** Answer with this raw body (e.g. an HTML error page) and `contentType`. */
  readonly body?: string
  /** The content type of `body`; default `text/html; charset=utf-8`. */
  readonly contentType?: string
  /** Answer 200 with a truncated JSON body. */
  readonly malformedJson?: boolean
  /** Drop the connection without an answer. */
  readonly drop?: boolean
  /** How many calls this rule applies to; default 1, `Infinity` for all. */
  readonly times?: number
}

interface ActiveRule {
  readonly rule: FaultRule
  remaining: number
}

/** The active fault rules, consumed in order. @internal */
export class Faults {
  #rules: ActiveRule[] = []

  add(rule: FaultRule): void {
    const times = rule.times ?? 1
    if (!(times > 0)) throw new TypeError(`fault times must be a positive number, got ${String(rule.times)}`)
    if (
      rule.status !== undefined &&
      !(Number.isInteger(rule.status) && rule.status >= 200 && rule.status <= 599)
    ) {
      throw new TypeError(`fault status must be an HTTP status 200-599, got ${String(rule.status)}`)
    }
    this.#rules.push({ rule, remaining: times })
  }

  /** Takes the first rule matching `endpoint`, counting one use. */
  take(endpoint: EndpointName): FaultRule | undefined {
    if (endpoint === 'control') return undefined
    const index = this.#rules.findIndex((r) => r.rule.endpoint === endpoint || r.rule.endpoint === '*')
    const active = this.#rules[index]
    if (!active) return undefined
    active.remaining -= 1
    if (active.remaining <= 0) this.#rules.splice(index, 1)
    return active.rule
  }

  list(): FaultRule[] {
    return this.#rules.map((r) => ({ ...r.rule, times: r.remaining }))
  }

  clear(): void {
    this.#rules = []
  }
}
