/** Redaction: fingerprints instead of secrets, so two dumps can be compared without revealing one. @module */
import type { KeyfobConfig, TokenRecord } from './contracts.ts'

/**
 * A fingerprint of a secret: `<redacted:sha256:1a2b3c>` (the first 6 hex digits of its SHA-256).
 *
 * @param secret - The secret.
 * @returns The fingerprint; equal secrets give equal fingerprints.
 * @example
 * ```ts
 * await fingerprint('s3cret') // '<redacted:sha256:…>'
 * ```
 */
export async function fingerprint(secret: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret)))
  const hex = [...digest.slice(0, 3)].map((b) => b.toString(16).padStart(2, '0')).join('')
  return `<redacted:sha256:${hex}>`
}

/** The members of a JWK that are not secret. */
const PUBLIC_JWK_MEMBERS: ReadonlySet<string> = new Set([
  'kty',
  'crv',
  'x',
  'y',
  'n',
  'e',
  'alg',
  'kid',
  'use',
])

/**
 * A token record with every token replaced by its fingerprint, and the secret members of its
 * DPoP key (`d`, and an RSA key's primes) too; the key's public members stay readable.
 *
 * @param record - The record.
 * @returns A copy safe to print.
 * @example
 * ```ts
 * console.log(JSON.stringify(await redactRecord(record)))
 * ```
 */
export async function redactRecord(record: TokenRecord): Promise<TokenRecord> {
  const out: Record<string, unknown> = { ...record }
  for (const field of ['accessToken', 'refreshToken', 'idToken'] as const) {
    const value = record[field]
    if (value !== undefined) out[field] = await fingerprint(value)
  }
  if (record.dpopKey !== undefined) {
    const jwk: Record<string, string> = {}
    for (const [name, value] of Object.entries(record.dpopKey.jwk))
      jwk[name] = PUBLIC_JWK_MEMBERS.has(name) ? value : await fingerprint(value)
    out.dpopKey = { ...record.dpopKey, jwk }
  }
  return out as unknown as TokenRecord
}

/**
 * A configuration with client secrets and passwords replaced by fingerprints. Its `providers` and
 * `apis` maps have no prototype, so every id is kept as an entry, even `__proto__` (which
 * `validateConfig` refuses, but a dump must show what is there).
 *
 * @param config - The configuration.
 * @returns A copy safe to print.
 * @example
 * ```ts
 * console.log(JSON.stringify(await redactConfig(config), null, 2))
 * ```
 */
export async function redactConfig(config: KeyfobConfig): Promise<KeyfobConfig> {
  // Maps keyed by ids from a file have no prototype: an id `__proto__` is an entry like any other,
  // not a call of the prototype setter that would drop it from the dump.
  const providers: Record<string, unknown> = Object.create(null)
  for (const [id, p] of Object.entries(config.providers)) {
    const client =
      p.client?.clientSecret !== undefined
        ? { ...p.client, clientSecret: await fingerprint(p.client.clientSecret) }
        : p.client
    const defaultClients = p.defaultClients
      ? await Promise.all(
          p.defaultClients.map(async (c) =>
            c.clientSecret === undefined ? c : { ...c, clientSecret: await fingerprint(c.clientSecret) },
          ),
        )
      : undefined
    providers[id] = { ...p, ...(client ? { client } : {}), ...(defaultClients ? { defaultClients } : {}) }
  }
  const apis: Record<string, unknown> = Object.create(null)
  for (const [url, api] of Object.entries(config.apis)) {
    apis[url] = api.basic
      ? { ...api, basic: { ...api.basic, password: await fingerprint(api.basic.password) } }
      : api
  }
  return { ...config, providers, apis } as KeyfobConfig
}
