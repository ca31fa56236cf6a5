/** Small Web-API helpers shared by the endpoints. @module */

const encoder = new TextEncoder()

/** base64url without padding. @internal */
export function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

// Random bytes come from a pooled buffer: one getRandomValues call per 4 KiB instead of one per
// token, which was a quarter of the token endpoint's time on Node 20. Still CSPRNG output, never
// handed out twice.
const POOL_SIZE = 4096
const pool = new Uint8Array(POOL_SIZE)
let poolOffset = POOL_SIZE

/** `length` fresh random bytes (at most 1024). @internal */
export function randomBytes(length: number): Uint8Array {
  if (poolOffset + length > POOL_SIZE) {
    crypto.getRandomValues(pool)
    poolOffset = 0
  }
  const bytes = pool.slice(poolOffset, poolOffset + length)
  poolOffset += length
  return bytes
}

/** A random, URL-safe string carrying `bytes` bytes of entropy. @internal */
export function randomToken(bytes = 32): string {
  return base64url(randomBytes(bytes))
}

/** base64url(SHA-256(ascii)), as PKCE S256 and `at_hash` need it. @internal */
export async function sha256b64url(value: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(value))))
}

/** The left half of SHA-256(value), base64url: the OIDC `at_hash` for SHA-256 algorithms. @internal */
export async function halfHash(value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(value)))
  return base64url(digest.slice(0, 16))
}

/**
 * Compares two strings in time that depends only on their lengths, so a client secret cannot be
 * guessed byte by byte from response times. @internal
 */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  let diff = x.length ^ y.length
  const length = Math.max(x.length, y.length)
  for (let i = 0; i < length; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  return diff === 0
}

/** Escapes text for HTML element content and quoted attribute values. @internal */
export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

/** Splits a space-delimited scope string into unique, non-empty scope tokens. @internal */
export function parseScope(scope: string | undefined): string[] {
  if (!scope) return []
  return [...new Set(scope.split(' ').filter((s) => s.length > 0))]
}

/** Whether `value` is a plain JSON object (not an array, not null). @internal */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Resolves after `ms` milliseconds, or at once when `ms` is not positive. @internal */
export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve()
}

/** The user-code alphabet of RFC 8628 §6.1: consonants only, no vowels, no look-alikes. @internal */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ'

/** A user code like `WDJB-MJHT` (8 characters, about 34 bits of entropy). @internal */
export function userCode(): string {
  const picks = randomBytes(8)
  let code = ''
  for (let i = 0; i < picks.length; i++) {
    // 256 is not a multiple of 20; the bias (<1 %) is irrelevant for a short-lived code.
    code += USER_CODE_ALPHABET[(picks[i] ?? 0) % USER_CODE_ALPHABET.length]
    if (i === 3) code += '-'
  }
  return code
}

/** Normalizes what a person types as a user code: upper case, only alphabet characters, dashed. @internal */
export function normalizeUserCode(input: string): string {
  const letters = input.toUpperCase().replace(/[^A-Z]/g, '')
  return letters.length === 8 ? `${letters.slice(0, 4)}-${letters.slice(4)}` : letters
}
