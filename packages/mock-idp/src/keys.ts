/** Signing keys: the active key, retired keys in their grace period, rotation. @module */
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose'
import type { MockClock } from './clock.ts'
import { DEV_RSA_JWK } from './dev-key.ts'
import type { SigningAlg } from './types.ts'

/** A public signing key as JWKS publishes it, with its lifetime. */
export interface KeyInfo {
  /** The key id (`kid`), the RFC 7638 thumbprint of the public key. */
  readonly kid: string
  /** The signing algorithm. */
  readonly alg: SigningAlg
  /** The public JWK. */
  readonly publicJwk: JWK
  /** When it was created (mock clock, epoch ms). */
  readonly createdAtMs: number
  /** When it leaves JWKS (mock clock, epoch ms); unset for the active key. */
  readonly retiresAtMs?: number
}

interface KeyEntry extends KeyInfo {
  readonly privateKey: CryptoKey
}

/** @internal */
export class KeyStore {
  readonly #clock: MockClock
  #keys: KeyEntry[] = []
  #verifier: ReturnType<typeof createLocalJWKSet> | undefined
  #verifierKids = ''

  constructor(clock: MockClock) {
    this.#clock = clock
  }

  /** Creates the first key. */
  async init(alg: SigningAlg, mode: 'bundled' | 'generate'): Promise<void> {
    this.#keys = [await this.#create(alg, mode === 'bundled' && alg === 'RS256' ? DEV_RSA_JWK : undefined)]
  }

  /** The key that signs now. */
  get active(): KeyEntry {
    const key = this.#keys[this.#keys.length - 1]
    if (!key) throw new Error('KeyStore used before init()')
    return key
  }

  /** Keys still published: the active one and retired ones inside their grace period. */
  published(): KeyEntry[] {
    const now = this.#clock.now()
    return this.#keys.filter((k) => k.retiresAtMs === undefined || k.retiresAtMs > now)
  }

  /** Finds a published key by `kid`. */
  find(kid: string | undefined): KeyEntry | undefined {
    return this.published().find((k) => k.kid === kid)
  }

  /** Generates a new active key; the old one stays published for `graceMs`. */
  async rotate(graceMs: number, alg: SigningAlg = this.active.alg): Promise<KeyInfo> {
    const now = this.#clock.now()
    const next = await this.#create(alg, undefined)
    this.#keys = [
      ...this.published().map((k) =>
        k.retiresAtMs === undefined ? { ...k, retiresAtMs: now + graceMs } : k,
      ),
      next,
    ]
    return info(next)
  }

  /** A JWKS resolver over the published keys, for verifying tokens; rebuilt when they change. */
  verifier(): ReturnType<typeof createLocalJWKSet> {
    const published = this.published()
    const kids = published.map((k) => k.kid).join(',')
    if (!this.#verifier || kids !== this.#verifierKids) {
      this.#verifier = createLocalJWKSet({ keys: published.map((k) => k.publicJwk) })
      this.#verifierKids = kids
    }
    return this.#verifier
  }

  /** The JWKS document. */
  jwks(): { keys: JWK[] } {
    return { keys: this.published().map((k) => k.publicJwk) }
  }

  async #create(alg: SigningAlg, jwk: JsonWebKey | undefined): Promise<KeyEntry> {
    let privateKey: CryptoKey
    let publicJwk: JWK
    if (jwk) {
      const imported: unknown = await importJWK(jwk as JWK, alg, { extractable: false })
      // An asymmetric JWK always imports as a CryptoKey; a Uint8Array means a symmetric ("oct") key.
      if (imported instanceof Uint8Array)
        throw new TypeError('a signing key must be an RSA or EC private key, not a symmetric one')
      privateKey = imported as CryptoKey
      const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk as JWK
      publicJwk = pub
    } else {
      const pair = await generateKeyPair(alg, { extractable: true })
      privateKey = pair.privateKey
      publicJwk = await exportJWK(pair.publicKey)
    }
    const kid = await calculateJwkThumbprint(publicJwk)
    return {
      kid,
      alg,
      privateKey,
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      createdAtMs: this.#clock.now(),
    }
  }
}

/** The public view of a key entry. @internal */
export function info(entry: KeyEntry): KeyInfo {
  const { privateKey: _privateKey, ...rest } = entry
  return rest
}
