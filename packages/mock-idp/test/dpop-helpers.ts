/** Test helpers for DPoP (RFC 9449): key pairs and proofs, well-formed or deliberately broken. */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import type { MockIdp } from '../src/index.ts'
import { authorize, b64url, pkce } from './helpers.ts'

export interface DpopKey {
  readonly privateKey: CryptoKey
  readonly publicJwk: JWK
  readonly jkt: string
  readonly alg: string
}

/** A fresh key pair (extractable, so a test can leak its private half on purpose). */
export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = await exportJWK(publicKey)
  return { privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk), alg }
}

/** What a proof says; every field can be overridden or removed (`undefined`) to break it. */
export interface ProofShape {
  readonly htm?: string | undefined
  readonly htu?: string | undefined
  readonly iat?: number | undefined
  readonly jti?: string | undefined
  readonly nonce?: string
  readonly ath?: string
  /** Header overrides: `typ`, `alg`, `jwk`. */
  readonly header?: Record<string, unknown>
  /** Sign with this key instead of the one whose public key is in the header. */
  readonly signWith?: CryptoKey
}

/** A DPoP proof JWT for `key`, by default a valid one for `POST <issuer>/token` now (on the IdP's clock). */
export async function proof(idp: MockIdp, key: DpopKey, shape: ProofShape = {}): Promise<string> {
  const claims: Record<string, unknown> = {
    htm: 'POST',
    htu: `${idp.issuer}/token`,
    iat: Math.floor(idp.control.clock.now() / 1000),
    jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
  }
  for (const name of ['htm', 'htu', 'iat', 'jti', 'nonce', 'ath'] as const) {
    if (name in shape) claims[name] = shape[name]
  }
  for (const name of Object.keys(claims)) if (claims[name] === undefined) delete claims[name]
  return new SignJWT(claims)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk, ...shape.header } as never)
    .sign(shape.signWith ?? key.privateKey)
}

/** The RFC 9449 §4.2 `ath` of an access token. */
export async function ath(accessToken: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))))
}

/** A form POST with optional DPoP header; answers status, headers and JSON body. */
export async function send(
  idp: MockIdp,
  path: string,
  params: Record<string, string> | URLSearchParams,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await idp.fetch(`${idp.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  })
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  }
}

/** An authorization code for the public client `cli` with PKCE; extra parameters go to /authorize. */
export async function codeFor(
  idp: MockIdp,
  extra: Record<string, string> = {},
): Promise<{ code: string; verifier: string; redirectUri: string }> {
  const { verifier, challenge } = await pkce()
  const redirectUri = 'http://127.0.0.1:5555/callback'
  const q = await authorize(idp, {
    response_type: 'code',
    client_id: 'cli',
    redirect_uri: redirectUri,
    scope: 'openid offline_access',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  })
  const code = q.get('code')
  if (code === null) throw new Error(`no code: ${q.toString()}`)
  return { code, verifier, redirectUri }
}
