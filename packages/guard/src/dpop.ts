/**
 * DPoP (RFC 9449) on the resource-server side: option checks, proof verification (§4.3), the
 * key binding of the access token (§6), the `jti` replay cache (§11.1) and server nonces (§9).
 * @internal @module
 */
import type { Context } from 'hono'
import {
  base64url,
  calculateJwkThumbprint,
  decodeProtectedHeader,
  importJWK,
  type JWK,
  jwtVerify,
} from 'jose'
import { ASYMMETRIC_ALGORITHMS, type AsymmetricAlgorithm } from './algorithms.ts'
import { BoundedCache } from './cache.ts'
import { describe } from './discovery.ts'
import { GuardError } from './errors.ts'
import { nonNegative, positiveInteger } from './options.ts'
import { challengeOf, quote } from './respond.ts'
import type { Denial, GuardReason } from './types.ts'

/** The asymmetric JWS algorithms a DPoP proof may use (RFC 9449 §4.2: never `none`, never a MAC). */
export type DpopAlgorithm = AsymmetricAlgorithm

/** The proof algorithms accepted (and advertised as `algs`) by default. */
export const DEFAULT_DPOP_ALGORITHMS: readonly DpopAlgorithm[] = [
  'ES256',
  'EdDSA',
  'Ed25519',
  'PS256',
  'RS256',
]

/** Server-provided nonces (RFC 9449 §9) of {@link DpopOptions.nonce}. */
export interface DpopNonceOptions {
  /**
   * Seconds a nonce is the current one; default 300. A nonce is still accepted for one more
   * such period after it was replaced, and a request that uses it gets the new one in its
   * `DPoP-Nonce` response header (§8.2), so clients rotate without a failed request.
   */
  readonly lifetime?: number
  /**
   * The secret nonces are derived from (HMAC-SHA-256 of the time period), at least 32
   * characters. Give every instance behind one load balancer the same secret, so a nonce one
   * instance issued is accepted by the others. Default: 32 random bytes per process.
   */
  readonly secret?: string
}

/**
 * DPoP (RFC 9449) for {@link jwtAuth} and {@link oidcAuth}: with it, `Authorization: DPoP <token>`
 * is accepted together with a `DPoP` proof header. Without it, only `Bearer` is read. In both
 * cases a token bound to a key (`cnf.jkt`, in the JWT or the introspection answer) is refused as
 * `Bearer` (§7.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { jwtAuth, type GuardEnv } from '@keyfob/guard'
 *
 * const app = new Hono<GuardEnv>()
 * app.use(
 *   '*',
 *   jwtAuth({
 *     issuer: 'https://idp.example',
 *     audience: 'https://api.example',
 *     dpop: { required: true, publicOrigin: 'https://api.example', nonce: true },
 *   }),
 * )
 * app.get('/me', (c) => c.json({ sub: c.var.auth.subject, jkt: c.var.auth.dpop?.jkt }))
 * ```
 */
export interface DpopOptions {
  /**
   * Refuse `Authorization: Bearer` altogether: every request must carry a DPoP-bound token and its
   * proof. Default `false`: unbound tokens are still accepted as `Bearer`.
   */
  readonly required?: boolean
  /** Accepted proof algorithms, advertised as `algs`; default `['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256']`. */
  readonly algorithms?: readonly DpopAlgorithm[]
  /** Seconds a proof's `iat` may lie in the past; default 300. */
  readonly maxAge?: number
  /** Seconds a proof's `iat` may lie in the future (client clock skew); default 60. */
  readonly clockTolerance?: number
  /**
   * The origin clients call this API at (`https://api.example`), when it differs from the one the
   * server sees behind a proxy or TLS terminator: the proof's `htu` is compared with this origin
   * plus the request's path. Default: the request URL's origin.
   */
  readonly publicOrigin?: string | URL
  /**
   * At most this many proof ids (`jti`, per key) are remembered to refuse replays, each until its
   * `iat` leaves the `maxAge` window; least recently used dropped first. Size it for your peak
   * proofs per second times `maxAge` (+ `clockTolerance`). Default 100 000.
   */
  readonly replayCacheSize?: number
  /**
   * Require a server nonce in every proof (§9): a proof without the current nonce is answered
   * 401 `use_dpop_nonce` with a fresh `DPoP-Nonce` header. `true` for the defaults. Default off.
   */
  readonly nonce?: DpopNonceOptions | boolean
}

/** The result of checking a request's proof. @internal */
export type DpopCheck =
  | { readonly ok: true; readonly jkt: string; readonly nonce?: string }
  | { readonly ok: false; readonly denial: Denial }

/** A configured DPoP verifier. @internal */
export interface DpopVerifier {
  /** Whether `Bearer` is refused. */
  readonly required: boolean
  /** The `DPoP algs="…"` challenge (with realm and resource_metadata when set). */
  readonly challenge: string
  /** Checks the request's proof for `token`, which is bound to `jkt`. */
  check(c: Context, token: string, jkt: string): Promise<DpopCheck>
}

/** The longest `DPoP` header read; a proof with a 4096-bit RSA key is about 1.5 KiB. */
const MAX_PROOF_LENGTH = 8192
/** The longest `jti` remembered. */
const MAX_JTI_LENGTH = 256
const SEEN: object = Object.freeze({})

/**
 * Checks `dpop` options once, at startup, and builds the verifier.
 * @throws GuardError `ERR_INVALID_OPTION` for an unknown or symmetric algorithm, a bad number, a
 *   `publicOrigin` that is not a bare http(s) origin, or a nonce secret under 32 characters.
 * @internal
 */
export function createDpopVerifier(
  options: DpopOptions,
  context: {
    readonly owner: string
    readonly now: () => number
    readonly realm?: string | undefined
    readonly extra: readonly string[]
  },
): DpopVerifier {
  const { owner, now } = context
  if (options === null || typeof options !== 'object') {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: dpop must be an object such as { required: true }, got ${String(options)}`,
    )
  }
  const required = options.required ?? false
  if (typeof required !== 'boolean') {
    throw new GuardError('ERR_INVALID_OPTION', `${owner}: dpop.required must be a boolean`)
  }
  const algorithms = dpopAlgorithms(options.algorithms, owner)
  const maxAgeS = nonNegative(options.maxAge, 300, 'dpop.maxAge', owner)
  const toleranceS = nonNegative(options.clockTolerance, 60, 'dpop.clockTolerance', owner)
  const origin = options.publicOrigin === undefined ? undefined : publicOrigin(options.publicOrigin, owner)
  const replay = new BoundedCache<object>(
    positiveInteger(options.replayCacheSize, 100_000, 'dpop.replayCacheSize', owner),
  )
  const nonces =
    options.nonce === undefined || options.nonce === false
      ? undefined
      : new Nonces(options.nonce === true ? {} : options.nonce, owner)
  const signers = new Signers(algorithms, 256)
  const hashes = new TokenHashes(256)
  const verifyOptions = {
    algorithms: [...algorithms],
    typ: 'dpop+jwt',
    requiredClaims: ['jti', 'htm', 'htu', 'iat'],
  }
  const challenge = challengeOf('DPoP', context.realm, [
    `algs=${quote([...algorithms].join(' '))}`,
    ...context.extra,
  ])

  return {
    required,
    challenge,
    async check(c: Context, token: string, jkt: string): Promise<DpopCheck> {
      const proof = c.req.header('dpop')
      if (proof === undefined || proof.length === 0) {
        return refuse('dpop_proof_missing', 'the request has no DPoP header', 'a DPoP proof is required')
      }
      if (proof.length > MAX_PROOF_LENGTH) {
        return refuse(
          'dpop_proof_invalid',
          `DPoP header of ${proof.length} characters, limit ${MAX_PROOF_LENGTH}`,
        )
      }
      // Repeated headers arrive joined by ", "; a compact JWS has no comma (§4.3 check 1).
      if (proof.includes(',')) return refuse('dpop_proof_invalid', 'more than one DPoP header')
      const nowMs = now()
      const signer = await signers.resolve(proof)
      if (typeof signer === 'string') return refuse('dpop_proof_invalid', signer)
      const { thumbprint } = signer
      let payload: Record<string, unknown>
      try {
        ;({ payload } = await jwtVerify(proof, signer.key, {
          ...verifyOptions,
          currentDate: new Date(nowMs),
        }))
      } catch (error) {
        return refuse('dpop_proof_invalid', describe(error))
      }
      const { jti, htm, htu, iat, ath } = payload
      if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
        return refuse('dpop_proof_invalid', `jti is not a string of 1 to ${MAX_JTI_LENGTH} characters`)
      }
      if (htm !== c.req.method) {
        return refuse(
          'dpop_proof_mismatch',
          `htm ${JSON.stringify(String(htm)).slice(0, 40)}, request method ${c.req.method}`,
          'the DPoP proof is for another request',
        )
      }
      const expected = requestHtu(c.req.url, origin)
      const claimed = typeof htu === 'string' ? normalizeHtu(htu) : undefined
      if (claimed !== expected) {
        return refuse(
          'dpop_proof_mismatch',
          `htu ${JSON.stringify(String(htu)).slice(0, 200)}, request ${expected}`,
          'the DPoP proof is for another request',
        )
      }
      const ageS = nowMs / 1000 - (iat as number)
      if (ageS > maxAgeS || -ageS > toleranceS) {
        return refuse(
          'dpop_proof_stale',
          ageS > 0
            ? `iat is ${Math.round(ageS)} s old, dpop.maxAge is ${maxAgeS}`
            : `iat is ${Math.round(-ageS)} s in the future, dpop.clockTolerance is ${toleranceS}`,
          'the DPoP proof is too old or from the future; make a fresh one for each request',
        )
      }
      if (typeof ath !== 'string') {
        return refuse(
          'dpop_proof_invalid',
          'no ath claim',
          'the DPoP proof has no ath (the hash of the access token)',
        )
      }
      if (ath !== (await hashes.of(token))) {
        return refuse(
          'dpop_proof_mismatch',
          'ath is not the hash of the access token',
          'the DPoP proof is for another access token',
        )
      }
      let fresh: string | undefined
      if (nonces) {
        const state = typeof payload.nonce === 'string' ? await nonces.check(payload.nonce, nowMs) : 'missing'
        if (state === 'missing' || state === 'invalid') {
          return {
            ok: false,
            denial: {
              status: 401,
              error: 'use_dpop_nonce',
              description: 'this API requires a nonce in DPoP proofs: use the DPoP-Nonce response header',
              reason: 'dpop_nonce',
              challengeError: true,
              scheme: 'DPoP',
              dpopNonce: await nonces.current(nowMs),
              detail: state === 'missing' ? 'the proof has no nonce' : 'the proof nonce is not current',
            },
          }
        }
        if (state === 'previous') fresh = await nonces.current(nowMs)
      }
      if (thumbprint !== jkt) {
        // §7.1, figure 18: a proof by another key than the token's is an invalid token binding.
        return {
          ok: false,
          denial: {
            status: 401,
            error: 'invalid_token',
            description: 'the DPoP proof is signed by a key the access token is not bound to',
            reason: 'dpop_key_mismatch',
            challengeError: true,
            scheme: 'DPoP',
            detail: `proof key ${thumbprint}, token cnf.jkt ${jkt.slice(0, 64)}`,
          },
        }
      }
      // Checked and recorded with no await in between, so two concurrent requests with one proof
      // cannot both pass.
      const id = `${thumbprint}.${jti}`
      if (replay.get(id, nowMs) !== undefined) {
        return refuse(
          'dpop_proof_replayed',
          `jti ${JSON.stringify(jti.slice(0, 64))} was already used`,
          'the DPoP proof was already used; make a fresh one for each request',
        )
      }
      replay.set(id, SEEN, ((iat as number) + maxAgeS) * 1000 + 1000, nowMs)
      return fresh === undefined ? { ok: true, jkt: thumbprint } : { ok: true, jkt: thumbprint, nonce: fresh }
    },
  }
}

const encoder = new TextEncoder()

/** A 401 `invalid_dpop_proof` (§7.1). */
function refuse(reason: GuardReason, detail: string, description = 'the DPoP proof is invalid'): DpopCheck {
  return {
    ok: false,
    denial: {
      status: 401,
      error: 'invalid_dpop_proof',
      description,
      reason,
      challengeError: true,
      scheme: 'DPoP',
      detail,
    },
  }
}

/** Validated proof algorithms. */
function dpopAlgorithms(value: readonly string[] | undefined, owner: string): ReadonlySet<string> {
  if (value === undefined) return new Set(DEFAULT_DPOP_ALGORITHMS)
  if (!Array.isArray(value) || value.length === 0) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: dpop.algorithms must be a non-empty array such as ['ES256']`,
    )
  }
  for (const alg of value) {
    if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: dpop.algorithms: ${JSON.stringify(alg)} is not an asymmetric JWS algorithm (RFC 9449 §4.2 forbids none and MACs); use some of ${[...ASYMMETRIC_ALGORITHMS].join(', ')}`,
      )
    }
  }
  return new Set(value)
}

/** A bare http(s) origin, without a trailing slash. */
function publicOrigin(value: string | URL, owner: string): string {
  let url: URL
  try {
    url = new URL(value instanceof URL ? value.href : String(value))
  } catch {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: dpop.publicOrigin is not a URL: ${JSON.stringify(String(value))}`,
    )
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.pathname !== '/' ||
    url.search ||
    url.hash
  ) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: dpop.publicOrigin must be an origin such as https://api.example (no path, query or fragment), got ${url.href}`,
    )
  }
  return url.origin
}

const UNRESERVED = /[A-Za-z0-9\-._~]/

/**
 * An `htu` as RFC 9449 §4.3 compares it: without query and fragment, after RFC 3986 syntax- and
 * scheme-based normalization (§6.2.2, §6.2.3): the URL parser lower-cases scheme and host, drops
 * the default port, resolves dot segments and gives an empty path `/`; here percent-encodings are
 * upper-cased and unreserved characters decoded. `undefined` for anything but an http(s) URL.
 * @internal
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`
  })
  return `${url.protocol}//${url.host}${path}`
}

/** The `htu` a proof for this request must carry. */
function requestHtu(requestUrl: string, origin: string | undefined): string | undefined {
  if (origin === undefined) return normalizeHtu(requestUrl)
  const url = new URL(requestUrl)
  return normalizeHtu(`${origin}${url.pathname}`)
}

/** A proof's signing key and its JWK SHA-256 thumbprint. */
interface Signer {
  readonly key: CryptoKey
  readonly thumbprint: string
}

/**
 * Proof keys by the proof's encoded protected header (`alg`, `typ` and `jwk`, the same in every
 * proof a client makes with one key), so a client's key is decoded, hashed and imported once.
 * Insertion-ordered and bounded: the oldest entry goes first.
 */
class Signers {
  readonly #signers = new Map<string, Signer>()
  readonly #algorithms: ReadonlySet<string>
  readonly #max: number

  constructor(algorithms: ReadonlySet<string>, max: number) {
    this.#algorithms = algorithms
    this.#max = max
  }

  /** The signer of `proof`, or what is wrong with its header. */
  async resolve(proof: string): Promise<Signer | string> {
    const end = proof.indexOf('.')
    const encoded = end > 0 ? proof.slice(0, end) : ''
    const hit = this.#signers.get(encoded)
    if (hit) return hit
    let alg: string
    let jwk: JWK
    try {
      const header = decodeProtectedHeader(proof)
      if (typeof header.alg !== 'string' || !this.#algorithms.has(header.alg)) {
        return `alg ${JSON.stringify(String(header.alg)).slice(0, 40)} is not in dpop.algorithms (${[...this.#algorithms].join(', ')})`
      }
      if (header.jwk === null || typeof header.jwk !== 'object' || Array.isArray(header.jwk)) {
        return 'the jwk header is not a JSON object'
      }
      alg = header.alg
      jwk = header.jwk
    } catch (error) {
      return `the DPoP header is not a JWT: ${describe(error)}`
    }
    if (jwk.kty === 'oct' || 'd' in jwk || 'p' in jwk || 'q' in jwk || 'k' in jwk) {
      return 'the jwk header holds a private or symmetric key'
    }
    let signer: Signer
    try {
      const key = await importJWK(jwk, alg)
      // Read through a plain shape: where Node's and Deno's ambient types meet (deno check of
      // the gateway), jose's CryptoKey type resolves to `never`.
      if (key instanceof Uint8Array || (key as { readonly type?: unknown }).type !== 'public')
        return 'the jwk header is not a public key'
      signer = { key, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') }
    } catch (error) {
      return `the jwk header is not a usable ${alg} key: ${describe(error)}`
    }
    if (this.#signers.size >= this.#max) this.#signers.delete(this.#signers.keys().next().value as string)
    this.#signers.set(encoded, signer)
    return signer
  }
}

/** base64url(SHA-256(token)) (a proof's `ath`) of the last tokens seen, so a client's token is hashed once. */
class TokenHashes {
  readonly #hashes = new Map<string, string>()
  readonly #max: number

  constructor(max: number) {
    this.#max = max
  }

  async of(token: string): Promise<string> {
    const hit = this.#hashes.get(token)
    if (hit !== undefined) return hit
    const hash = base64url.encode(
      new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(token))),
    )
    if (this.#hashes.size >= this.#max) this.#hashes.delete(this.#hashes.keys().next().value as string)
    this.#hashes.set(token, hash)
    return hash
  }
}

/**
 * Stateless server nonces: the nonce of period `n` (of `lifetime` seconds on the guard's clock) is
 * base64url(HMAC-SHA-256(secret, n)), so instances sharing the secret agree without talking.
 */
class Nonces {
  readonly #key: Promise<CryptoKey>
  readonly #periodMs: number
  readonly #memo = new Map<number, Promise<string>>()

  constructor(options: DpopNonceOptions, owner: string) {
    if (options === null || typeof options !== 'object') {
      throw new GuardError('ERR_INVALID_OPTION', `${owner}: dpop.nonce must be true or { lifetime, secret }`)
    }
    const lifetime = options.lifetime ?? 300
    if (typeof lifetime !== 'number' || !Number.isFinite(lifetime) || lifetime < 1) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: dpop.nonce.lifetime must be at least 1 (seconds), got ${String(lifetime)}`,
      )
    }
    this.#periodMs = lifetime * 1000
    let secret: Uint8Array
    if (options.secret === undefined) {
      secret = crypto.getRandomValues(new Uint8Array(32))
    } else if (typeof options.secret !== 'string' || options.secret.length < 32) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${owner}: dpop.nonce.secret must be a string of at least 32 characters (a random value shared by the instances that serve this API)`,
      )
    } else {
      secret = encoder.encode(options.secret)
    }
    this.#key = crypto.subtle.importKey(
      'raw',
      secret as BufferSource,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    )
  }

  #at(period: number): Promise<string> {
    let nonce = this.#memo.get(period)
    if (nonce === undefined) {
      nonce = this.#key.then(async (key) =>
        base64url.encode(
          new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(`dpop-nonce.${period}`))),
        ),
      )
      this.#memo.set(period, nonce)
      for (const old of this.#memo.keys()) if (old < period - 1 || old > period + 1) this.#memo.delete(old)
    }
    return nonce
  }

  /** The nonce to hand out now. */
  current(nowMs: number): Promise<string> {
    return this.#at(Math.floor(nowMs / this.#periodMs))
  }

  /** Whether `value` is the current nonce, the one before it, or neither. */
  async check(value: string, nowMs: number): Promise<'current' | 'previous' | 'invalid'> {
    const period = Math.floor(nowMs / this.#periodMs)
    if (value === (await this.#at(period))) return 'current'
    if (value === (await this.#at(period - 1))) return 'previous'
    return 'invalid'
  }
}
