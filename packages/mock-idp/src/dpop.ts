/**
 * DPoP (RFC 9449): proof verification (§4.3) at the token endpoint, the PAR endpoint and
 * userinfo, server nonces (§8), and the replay cache of proof ids. Written with `jose` and
 * independent of `@keyfob/guard`'s checks, because this IdP is what other code is tested against.
 * @internal
 *
 * @module
 */
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  type JWK,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from 'jose'
import type { DpopJournal, LogDraft } from './journal.ts'
import type { Provider } from './provider.ts'
import type { MockClient } from './types.ts'
import { sha256b64url } from './util.ts'
import { OAuthFailure, truncate } from './wire.ts'

/** The asymmetric JWS algorithms the IdP accepts in DPoP proofs, for discovery too. @internal */
export const DPOP_ALGS: readonly string[] = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
]

/** JWK members that only a private or symmetric key has (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

// The signature may be empty here so that `alg: none` is refused by name below.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** A DPoP proof that passed every check. @internal */
export interface DpopProof {
  /** The JWK SHA-256 thumbprint (RFC 7638) of the proof's public key: the token's `cnf.jkt`. */
  readonly jkt: string
  readonly jti: string
}

/** What a request's proof must match. @internal */
export interface ProofExpectation {
  /** The HTTP method (`htm`). */
  readonly htm: string
  /** The endpoint's URL (`htu`), without query and fragment. */
  readonly htu: string
  /** Whether the proof must carry a nonce this IdP issued (§8). */
  readonly nonceRequired: boolean
  /** The access token the proof must name in `ath` (resource requests, §7). */
  readonly accessToken?: string
  /** `400` at the token and PAR endpoints; `401` with a `DPoP` challenge at userinfo. */
  readonly resource?: boolean
}

/** The current and the previous server nonce; a nonce stays good for two lifetimes. @internal */
export class DpopNonces {
  #current = ''
  #previous = ''
  #issuedAtMs = Number.NEGATIVE_INFINITY
  readonly #lifetimeMs: number
  readonly #now: () => number
  readonly #fresh: () => string

  constructor(lifetimeMs: number, now: () => number, fresh: () => string) {
    this.#lifetimeMs = lifetimeMs
    this.#now = now
    this.#fresh = fresh
  }

  /** The nonce to hand out now (a new one once the current one is a lifetime old). */
  current(): string {
    const now = this.#now()
    if (this.#current === '' || now - this.#issuedAtMs >= this.#lifetimeMs || now < this.#issuedAtMs) {
      this.rotate()
    }
    return this.#current
  }

  /** Whether a proof's nonce is one this IdP handed out recently. */
  accepts(nonce: unknown): boolean {
    this.current()
    return typeof nonce === 'string' && nonce !== '' && (nonce === this.#current || nonce === this.#previous)
  }

  /** Issues a new nonce at once; the previous one stays good until the next rotation. */
  rotate(): string {
    this.#previous = this.#current
    this.#current = this.#fresh()
    this.#issuedAtMs = this.#now()
    return this.#current
  }

  /** Forgets both nonces. */
  clear(): void {
    this.#current = ''
    this.#previous = ''
    this.#issuedAtMs = Number.NEGATIVE_INFINITY
  }
}

/** Whether `client` must put a server nonce in its proofs: the control switch, else the client, else the IdP. @internal */
export function nonceRequired(p: Provider, client: MockClient | undefined): boolean {
  return p.dpopNonceSwitch ?? client?.requireDpopNonce ?? p.settings.dpopNonce
}

/** The `htu` form of a URL: scheme, host and path, normalised (RFC 9449 §4.3 point 9). */
function htuOf(value: string): string | undefined {
  try {
    const url = new URL(value)
    return `${url.protocol}//${url.host}${url.pathname}`
  } catch {
    return undefined
  }
}

/**
 * Reads and verifies the request's `DPoP` header against RFC 9449 §4.3; `undefined` when there
 * is none. The proof's id is remembered (on the IdP clock, bounded by `limits.dpopProofs`) so it
 * cannot be used twice while its `iat` is acceptable.
 *
 * @throws OAuthFailure `invalid_dpop_proof` naming the failed check, or `use_dpop_nonce` with a
 *   `DPoP-Nonce` header when a nonce is required and missing or stale.
 * @internal
 */
export async function readDpopProof(
  p: Provider,
  request: Request,
  log: LogDraft,
  expected: ProofExpectation,
): Promise<DpopProof | undefined> {
  const header = request.headers.get('dpop')
  if (header === null) return undefined
  const entry: DpopJournal = {}
  log.dpop = entry
  const invalid = (description: string): OAuthFailure =>
    proofFailure(p, expected, 'invalid_dpop_proof', description)
  // Fetch joins repeated headers with ", "; a compact JWS has neither, so a comma means two.
  if (header.includes(',')) throw invalid('send exactly one DPoP header (RFC 9449 §4.3)')
  const proof = header.trim()
  if (!COMPACT_JWS.test(proof)) throw invalid('the DPoP header is not a compact JWS')
  let protectedHeader: ReturnType<typeof decodeProtectedHeader>
  try {
    protectedHeader = decodeProtectedHeader(proof)
  } catch {
    throw invalid('the DPoP proof header is not a base64url JSON object')
  }
  const { typ, alg, jwk } = protectedHeader
  if (typeof alg === 'string') entry.alg = truncate(alg, 20)
  if (typ !== 'dpop+jwt') {
    throw invalid(`the DPoP proof's typ must be "dpop+jwt", got ${truncate(JSON.stringify(typ ?? null))}`)
  }
  if (typeof alg !== 'string' || !DPOP_ALGS.includes(alg)) {
    const why =
      alg === 'none' || (typeof alg === 'string' && /^HS/i.test(alg))
        ? 'DPoP proofs need an asymmetric signature'
        : 'it is not supported'
    throw invalid(
      `the DPoP proof's alg ${truncate(JSON.stringify(alg ?? null))} is refused: ${why}; use one of ${DPOP_ALGS.join(', ')}`,
    )
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw invalid('the DPoP proof header has no "jwk" object with the public key')
  }
  const leaked = PRIVATE_MEMBERS.filter((member) => member in jwk)
  if (leaked.length > 0) {
    // The key material itself is never echoed, journaled or kept.
    throw invalid(
      `the DPoP proof's jwk carries private or symmetric key members (${leaked.join(', ')}); send the public key only`,
    )
  }
  let jkt: string
  try {
    jkt = await calculateJwkThumbprint(jwk as JWK, 'sha256')
  } catch {
    throw invalid("the DPoP proof's jwk is not a valid public key")
  }
  entry.jkt = jkt
  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...DPOP_ALGS],
      currentDate: new Date(p.clock.now()),
    }))
  } catch (error) {
    // Everything here comes from the request: jose's errors, and WebCrypto's DataError for a
    // point that is not on the curve, alike mean the proof is bad.
    const reason =
      error instanceof joseErrors.JWSSignatureVerificationFailed
        ? 'the signature does not verify with the jwk in its header'
        : error instanceof Error
          ? truncate(error.message, 120)
          : 'it does not verify'
    throw invalid(`the DPoP proof is rejected: ${reason}`)
  }
  const { jti, htm, htu, iat, nonce, ath } = payload as JWTPayload & Record<string, unknown>
  if (typeof jti === 'string') entry.jti = truncate(jti, 80)
  if (typeof htm === 'string') entry.htm = truncate(htm, 16)
  if (typeof htu === 'string') entry.htu = truncate(htu, 200)
  if (typeof iat === 'number') entry.iat = iat
  if (typeof nonce === 'string') entry.nonce = truncate(nonce, 80)
  for (const [name, value] of [
    ['jti', jti],
    ['htm', htm],
    ['htu', htu],
  ] as const) {
    if (typeof value !== 'string' || value === '') throw invalid(`the DPoP proof has no "${name}" claim`)
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat))
    throw invalid('the DPoP proof has no numeric "iat" claim')
  if (htm !== expected.htm) {
    throw invalid(`the DPoP proof is for ${truncate(String(htm), 16)}, but this request is ${expected.htm}`)
  }
  const want = htuOf(expected.htu)
  if (htuOf(String(htu)) !== want) {
    throw invalid(`the DPoP proof is for ${truncate(String(htu), 200)}, but this request is to ${want}`)
  }
  const now = p.clock.now()
  const windowMs = p.settings.dpopProofWindowS * 1000
  const skewMs = now - iat * 1000
  if (Math.abs(skewMs) > windowMs) {
    throw invalid(
      `the DPoP proof's iat is ${Math.round(Math.abs(skewMs) / 1000)} s in the ${skewMs > 0 ? 'past' : 'future'} on the IdP's clock; proofs are accepted within ${p.settings.dpopProofWindowS} s (dpop.proofWindowS)`,
    )
  }
  if (expected.nonceRequired && !p.dpopNonces.accepts(nonce)) {
    throw proofFailure(
      p,
      expected,
      'use_dpop_nonce',
      nonce === undefined
        ? 'this IdP requires a server nonce in DPoP proofs; retry with the DPoP-Nonce header value'
        : "the DPoP proof's nonce is not current; retry with the DPoP-Nonce header value",
    )
  }
  if (expected.accessToken !== undefined) {
    if (typeof ath !== 'string') throw invalid('the DPoP proof has no "ath" claim (the access token hash)')
    if (ath !== (await sha256b64url(expected.accessToken))) {
      throw invalid("the DPoP proof's ath does not match the access token")
    }
  }
  if (!p.state.useDpopProof(`${jkt}:${jti as string}`, now + 2 * windowMs)) {
    throw invalid(`the DPoP proof's jti ${truncate(String(jti), 40)} was already used`)
  }
  return { jkt, jti: jti as string }
}

/** An error answer for a proof: JSON at the token/PAR endpoints, a `DPoP` challenge at userinfo. */
function proofFailure(
  p: Provider,
  expected: ProofExpectation,
  error: 'invalid_dpop_proof' | 'use_dpop_nonce',
  description: string,
): OAuthFailure {
  const headers: Record<string, string> = {}
  if (error === 'use_dpop_nonce') headers['dpop-nonce'] = p.dpopNonces.current()
  if (expected.resource) {
    headers['www-authenticate'] = dpopChallenge(error, description)
    return new OAuthFailure(401, error, description, headers)
  }
  return new OAuthFailure(400, error, description, headers)
}

/** An RFC 9449 §7.1 `DPoP` challenge with the accepted algorithms. @internal */
export function dpopChallenge(error?: string, description?: string): string {
  const parts = ['realm="mock-idp"']
  if (error) parts.push(`error="${error}"`)
  if (description) parts.push(`error_description="${description.replaceAll('"', "'")}"`)
  parts.push(`algs="${DPOP_ALGS.join(' ')}"`)
  return `DPoP ${parts.join(', ')}`
}
