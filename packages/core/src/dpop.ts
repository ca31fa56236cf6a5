/**
 * DPoP (RFC 9449) keys on oauth4webapi: the algorithm a login uses, its key pair (kept with the
 * login's tokens as a JWK, held in memory as a non-extractable `CryptoKey`), the proof-signing
 * handle, and requests to resource servers that carry a fresh proof each.
 *
 * What a non-extractable private key does and does not protect: `crypto.subtle.exportKey` refuses
 * it, so code that only gets hold of the `CryptoKey` (a logger, a dependency that serializes
 * objects, an error report) cannot read the key's bytes — it can still sign with it while it holds
 * it. It does not protect the stored form (the JWK in the token store: the file store's 0600 file,
 * the keychain's secret), and nothing in a process protects against a debugger or a core dump.
 *
 * @module
 */
import * as oauth from 'oauth4webapi'
import type { DPoPKeyRecord, DPoPSetting } from './contracts.ts'
import { KeyfobError } from './errors.ts'

/**
 * The JWS algorithms keyfob signs DPoP proofs with, in the order it prefers them when the provider
 * lists several.
 *
 * @example
 * ```ts
 * DPOP_ALGORITHMS[0] // 'ES256'
 * ```
 */
export const DPOP_ALGORITHMS: readonly string[] = Object.freeze([
  'ES256',
  'EdDSA',
  'Ed25519',
  'ES384',
  'PS256',
  'RS256',
])

/** Web Crypto import parameters per JWS algorithm. */
function importParams(alg: string): AlgorithmIdentifier | RsaHashedImportParams | EcKeyImportParams {
  switch (alg) {
    case 'ES256':
      return { name: 'ECDSA', namedCurve: 'P-256' }
    case 'ES384':
      return { name: 'ECDSA', namedCurve: 'P-384' }
    case 'PS256':
      return { name: 'RSA-PSS', hash: 'SHA-256' }
    case 'RS256':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    case 'EdDSA':
    case 'Ed25519':
      return { name: 'Ed25519' }
    default:
      throw new KeyfobError(
        'ERR_INVALID_ARGUMENT',
        `DPoP algorithm ${JSON.stringify(alg)} is not one keyfob signs with; use one of ${DPOP_ALGORITHMS.join(', ')}`,
        { cause: { alg } },
      )
  }
}

/** Web Crypto sign parameters per JWS algorithm. */
function signParams(alg: string): AlgorithmIdentifier | EcdsaParams | RsaPssParams {
  switch (alg) {
    case 'ES256':
      return { name: 'ECDSA', hash: 'SHA-256' }
    case 'ES384':
      return { name: 'ECDSA', hash: 'SHA-384' }
    case 'PS256':
      return { name: 'RSA-PSS', saltLength: 32 }
    case 'RS256':
      return { name: 'RSASSA-PKCS1-v1_5' }
    default:
      return { name: 'Ed25519' }
  }
}

/** The members of a private JWK that are secret (EC/OKP `d`; RSA `d`, primes and CRT values). */
const PRIVATE_MEMBERS: ReadonlySet<string> = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])

/**
 * The algorithm a login signs its DPoP proofs with. An algorithm named in the setting is used as
 * it is (the user's explicit choice, also for a provider that does not advertise its list);
 * otherwise the first of {@link DPOP_ALGORITHMS} that the provider lists in
 * `dpop_signing_alg_values_supported`.
 *
 * @param as - The provider's metadata.
 * @param setting - The provider's `dpop` setting (`true`, or `{ alg }`).
 * @returns The JWS algorithm.
 * @throws KeyfobError `ERR_DPOP_UNSUPPORTED` when the provider advertises no DPoP algorithm keyfob
 *   signs with (the message names the setting `dpop: { alg }` that sends proofs anyway);
 *   `ERR_INVALID_ARGUMENT` for a named algorithm keyfob does not sign with.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5.1
 * @example
 * ```ts
 * dpopAlgorithm({ issuer: 'https://idp.example', dpop_signing_alg_values_supported: ['RS256', 'ES256'] }, true) // 'ES256'
 * ```
 */
export function dpopAlgorithm(as: oauth.AuthorizationServer, setting: DPoPSetting): string {
  if (typeof setting === 'object' && setting.alg !== undefined) {
    importParams(setting.alg)
    return setting.alg
  }
  const advertised = as.dpop_signing_alg_values_supported
  const alg = DPOP_ALGORITHMS.find((a) => advertised?.includes(a))
  if (alg !== undefined) return alg
  throw new KeyfobError(
    'ERR_DPOP_UNSUPPORTED',
    advertised === undefined || advertised.length === 0
      ? `${as.issuer} does not advertise DPoP (no dpop_signing_alg_values_supported in its metadata); turn the provider's dpop setting off, or name an algorithm it accepts (dpop: { alg: 'ES256' }) to send proofs anyway`
      : `${as.issuer} accepts DPoP proofs signed with ${advertised.join(', ')}, none of which keyfob signs with (${DPOP_ALGORITHMS.join(', ')}); turn the provider's dpop setting off`,
    { cause: { issuer: as.issuer, advertised: advertised ?? null } },
  )
}

/** A login's DPoP key: its stored form and the key pair it stands for. */
export interface DPoPKey {
  /** The stored form, kept in the login's {@link TokenRecord} (`dpopKey`). */
  readonly record: DPoPKeyRecord
  /** The key pair; the private key is not extractable, the public one is (proofs carry it). */
  readonly keyPair: CryptoKeyPair
}

/**
 * A fresh DPoP key for a login (oauth4webapi's `generateKeyPair`). The private key is exported
 * once, to the stored form, and then imported again as non-extractable: the `CryptoKey` in memory
 * cannot be exported (see the module notes for what that protects).
 *
 * @param alg - A JWS algorithm of {@link DPOP_ALGORITHMS} (see {@link dpopAlgorithm}).
 * @returns The key: its stored form and its key pair.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` for an algorithm keyfob does not sign with;
 *   `ERR_UNSUPPORTED` when this runtime's Web Crypto cannot make such a key.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4
 * @example
 * ```ts
 * const key = await generateDPoPKey('ES256')
 * await store.set(loginKey, { ...record, dpopKey: key.record })
 * ```
 */
export async function generateDPoPKey(alg: string): Promise<DPoPKey> {
  importParams(alg)
  let pair: CryptoKeyPair
  try {
    pair = await oauth.generateKeyPair(alg, { extractable: true })
  } catch (error) {
    throw new KeyfobError(
      'ERR_UNSUPPORTED',
      `this runtime's Web Crypto cannot make a ${alg} key; name another DPoP algorithm (dpop: { alg: 'ES256' })`,
      { cause: { alg, error: error instanceof Error ? error.message : String(error) } },
    )
  }
  const exported = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as Record<string, unknown>
  const jwk: Record<string, string> = {}
  for (const [name, value] of Object.entries(exported)) if (typeof value === 'string') jwk[name] = value
  const record: DPoPKeyRecord = { alg, jwk }
  return { record, keyPair: await importDPoPKey(record) }
}

/**
 * The key pair of a stored DPoP key: the private key imported as non-extractable, the public key
 * (the private JWK without its secret members) as extractable, as proofs carry it.
 *
 * @param record - The stored form (a {@link TokenRecord}'s `dpopKey`).
 * @returns The key pair.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` when the record is not a private key of its algorithm
 *   (the message names the algorithm, never a key member's value).
 * @example
 * ```ts
 * const keyPair = await importDPoPKey(stored.dpopKey)
 * ```
 */
export async function importDPoPKey(record: DPoPKeyRecord): Promise<CryptoKeyPair> {
  const params = importParams(record.alg)
  const publicJwk: Record<string, string> = {}
  for (const [name, value] of Object.entries(record.jwk))
    if (!PRIVATE_MEMBERS.has(name) && name !== 'key_ops' && name !== 'ext') publicJwk[name] = value
  try {
    const [privateKey, publicKey] = await Promise.all([
      crypto.subtle.importKey('jwk', { ...record.jwk }, params, false, ['sign']),
      crypto.subtle.importKey('jwk', publicJwk, params, true, ['verify']),
    ])
    // Some runtimes import a damaged key without a word: a signature tells.
    const sign = signParams(record.alg)
    const probe = new TextEncoder().encode('keyfob DPoP key check')
    if (
      !(await crypto.subtle.verify(sign, publicKey, await crypto.subtle.sign(sign, privateKey, probe), probe))
    )
      throw new Error('the public members do not match the private key')
    return { privateKey, publicKey }
  } catch (error) {
    throw new KeyfobError(
      'ERR_INVALID_ARGUMENT',
      `the stored DPoP key is not a usable ${record.alg} private key; log in again to make a new one`,
      { cause: { alg: record.alg, error: error instanceof Error ? error.name : 'Error' } },
    )
  }
}

/**
 * oauth4webapi's DPoP handle for a key pair: it signs a fresh proof per request (`htm`, `htu`,
 * `iat`, `jti`, and `ath` with an access token) and keeps the servers' nonces per origin. Make one
 * per login and keep it, so the nonces are reused.
 *
 * @param keyPair - The login's key pair ({@link DPoPKey.keyPair}).
 * @param options - `now`: the clock (epoch ms) the proofs' `iat` follows; default `Date.now`.
 * @returns The handle, for {@link HttpContext.dpop} and {@link dpopRequest}.
 * @throws KeyfobError `ERR_INVALID_ARGUMENT` when the public key is not extractable.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 * @example
 * ```ts
 * const dpop = dpopHandle((await generateDPoPKey('ES256')).keyPair)
 * ```
 */
export function dpopHandle(
  keyPair: CryptoKeyPair,
  options: { readonly now?: () => number } = {},
): oauth.DPoPHandle {
  const skewS = options.now ? Math.round((options.now() - Date.now()) / 1000) : 0
  try {
    // oauth4webapi derives its CryptoKey type from the host's `generateKey` typings; where Node's
    // and Deno's ambient types meet (deno check of a package that imports node:*), that resolves
    // to `never`. The runtime object is the host's CryptoKeyPair either way.
    return oauth.DPoP(
      skewS !== 0 ? { [oauth.clockSkew]: skewS } : {},
      keyPair as Parameters<typeof oauth.DPoP>[1],
    )
  } catch (error) {
    throw new KeyfobError(
      'ERR_INVALID_ARGUMENT',
      `a DPoP key pair needs a private signing key and an extractable public key (${error instanceof Error ? error.message : String(error)})`,
    )
  }
}

/**
 * Sends one request to a resource server with a DPoP-bound access token: the header
 * `Authorization: DPoP <token>` and a fresh proof whose `htm` is the method, `htu` the URL
 * without query and fragment, and `ath` the token's hash (oauth4webapi's `protectedResourceRequest`). The handle keeps a
 * `DPoP-Nonce` the server sends, per origin; when the server answers `401` with a `DPoP` challenge
 * `error="use_dpop_nonce"` (RFC 9449 §9), the request is sent once more with a fresh proof carrying
 * the new nonce. Redirects are not followed: a proof names one URL.
 *
 * @param dpop - The login's handle ({@link dpopHandle}).
 * @param accessToken - The DPoP-bound access token.
 * @param request - The request: method, URL, headers; its body is sent as given in `body`.
 * @param options - `body` (bytes, read from the request once by the caller so a retry can send it
 *   again), `fetch` to send with (default the global one), `allowInsecure` for plain `http:`
 *   outside loopback.
 * @returns The response, whatever its status (after at most one nonce retry).
 * @throws KeyfobError `ERR_INSECURE_REDIRECT` for plain `http:` outside loopback; `ERR_INVALID_ARGUMENT` for a bad handle; what `fetch` throws.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 * @example
 * ```ts
 * const response = await dpopRequest(dpop, token, new Request('https://api.example/jobs'))
 * ```
 */
export async function dpopRequest(
  dpop: oauth.DPoPHandle,
  accessToken: string,
  request: Request,
  options: {
    readonly body?: Uint8Array
    readonly fetch?: (request: Request) => Promise<Response>
    readonly allowInsecure?: boolean
  } = {},
): Promise<Response> {
  const url = new URL(request.url)
  const send = options.fetch ?? ((r: Request) => fetch(r))
  const headers = new Headers(request.headers)
  headers.delete('authorization')
  headers.delete('dpop')
  const insecure =
    options.allowInsecure ??
    (url.protocol === 'http:' && /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(url.hostname))
  const attempt = () =>
    oauth.protectedResourceRequest(accessToken, request.method, url, headers, options.body?.slice(), {
      DPoP: dpop,
      signal: request.signal,
      ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}),
      [oauth.customFetch]: (input, init) => send(new Request(input, init as RequestInit)),
    })
  try {
    try {
      return await attempt()
    } catch (error) {
      if (!oauth.isDPoPNonceError(error)) throw error
      // The handle took the nonce from this answer: one more proof, with it.
      await (error as oauth.WWWAuthenticateChallengeError).response.body?.cancel().catch(() => {})
      return await attempt()
    }
  } catch (error) {
    // A challenge is an answer, not a fault: the caller decides about it.
    if (error instanceof oauth.WWWAuthenticateChallengeError) return error.response
    if (error instanceof oauth.OperationProcessingError && error.code === oauth.HTTP_REQUEST_FORBIDDEN)
      throw new KeyfobError(
        'ERR_INSECURE_REDIRECT',
        `refusing to send a DPoP-bound token to ${url.origin} over plain http; use https`,
        { cause: { origin: url.origin } },
      )
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_INVALID_ARG'))
      throw new KeyfobError('ERR_INVALID_ARGUMENT', `a DPoP request could not be made: ${error.message}`)
    throw error
  }
}
