/** SHA-256, hex and constant-time comparison over Web Crypto. @internal @module */

/** SHA-256 of a string's UTF-8 bytes. @internal */
export async function sha256(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)))
}

/** Lower-case hex. @internal */
export function hex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += b.toString(16).padStart(2, '0')
  return out
}

/** Compares two byte strings without an early exit. @internal */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] ?? 0)
  return diff === 0
}

/** A cache key for a secret: the base64 of its SHA-256, so the secret itself is never held. @internal */
export async function digestKey(value: string): Promise<string> {
  return btoa(String.fromCharCode(...(await sha256(value))))
}
