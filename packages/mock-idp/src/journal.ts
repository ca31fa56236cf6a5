/** The request journal: what clients sent, with secrets redacted. @module */

/** One request the mock IdP answered. */
export interface JournalEntry {
  /** A sequence number, increasing by one per request from 1 (never reused, not even after `clear`). */
  readonly seq: number
  /** The mock clock when the request arrived (epoch ms). */
  readonly atMs: number
  /** The HTTP method. */
  readonly method: string
  /** The request path. */
  readonly path: string
  /** The endpoint name, e.g. `token`, `device_authorization`, `jwks`, `control`. */
  readonly endpoint: EndpointName
  /** The `grant_type` of a token request. */
  readonly grantType?: string
  /** The authenticated (or claimed) client id. */
  readonly clientId?: string
  /** Query and form parameters; secret values are replaced by `<redacted>`. */
  readonly params: Readonly<Record<string, string>>
  /** The response status. */
  readonly status: number
  /** The OAuth `error` of an error response. */
  readonly error?: string
  /** Set when a fault rule shaped the response. */
  readonly fault?: boolean
  /** The request's DPoP proof as far as it could be read, and the nonce the answer carried. */
  readonly dpop?: DpopJournal
}

/**
 * What the journal records of a DPoP proof (RFC 9449): header and claims, never the key itself
 * (only its thumbprint) and never the proof JWT. Fields are absent when the proof did not get far
 * enough to have them.
 */
export interface DpopJournal {
  /** The JWK SHA-256 thumbprint of the proof's key (the `cnf.jkt` its tokens are bound to). */
  jkt?: string
  /** The proof's `alg`. */
  alg?: string
  /** The proof's `jti`. */
  jti?: string
  /** The proof's `htm`. */
  htm?: string
  /** The proof's `htu`. */
  htu?: string
  /** The proof's `iat` (seconds). */
  iat?: number
  /** The nonce the proof carried. */
  nonce?: string
  /** The `DPoP-Nonce` the answer carried. */
  issuedNonce?: string
}

/** Endpoint names, as used by the journal and by fault rules. */
export type EndpointName =
  | 'discovery'
  | 'jwks'
  | 'authorize'
  | 'login'
  | 'token'
  | 'device_authorization'
  | 'device'
  | 'userinfo'
  | 'introspection'
  | 'revocation'
  | 'end_session'
  | 'registration'
  | 'par'
  | 'control'
  | 'unknown'

/** What an endpoint tells the journal about the request it is answering. @internal */
export interface LogDraft {
  params: Record<string, string>
  clientId?: string
  grantType?: string
  error?: string
  dpop?: DpopJournal
}

/** Parameters whose values are secrets or bearer credentials. */
const SECRET_PARAMS = new Set([
  'client_secret',
  'client_assertion',
  'password',
  'code',
  'code_verifier',
  'device_code',
  'refresh_token',
  'access_token',
  'token',
  'id_token_hint',
  'subject_token',
])

/** Copies params with every secret value replaced. @internal */
export function redactParams(params: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of params) out[key] = SECRET_PARAMS.has(key) ? '<redacted>' : value
  return out
}

/** A bounded, append-only list of {@link JournalEntry}. @internal */
export class Journal {
  #entries: JournalEntry[] = []
  #seq = 0
  readonly #limit: number

  constructor(limit: number) {
    this.#limit = limit
  }

  add(entry: Omit<JournalEntry, 'seq'>): void {
    this.#entries.push({ ...entry, seq: ++this.#seq })
    if (this.#entries.length > this.#limit) this.#entries.splice(0, this.#entries.length - this.#limit)
  }

  entries(filter?: JournalFilter): JournalEntry[] {
    if (!filter) return [...this.#entries]
    return this.#entries.filter(
      (e) =>
        (filter.endpoint === undefined || e.endpoint === filter.endpoint) &&
        (filter.grantType === undefined || e.grantType === filter.grantType) &&
        (filter.clientId === undefined || e.clientId === filter.clientId) &&
        (filter.sinceSeq === undefined || e.seq > filter.sinceSeq),
    )
  }

  clear(): void {
    this.#entries = []
  }

  get size(): number {
    return this.#entries.length
  }
}

/** Narrows {@link MockIdpControl.journal} results. */
export interface JournalFilter {
  /** Only this endpoint. */
  readonly endpoint?: EndpointName
  /** Only token requests with this `grant_type`. */
  readonly grantType?: string
  /** Only requests by this client. */
  readonly clientId?: string
  /** Only entries after this sequence number. */
  readonly sinceSeq?: number
}
