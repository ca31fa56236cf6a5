/**
 * Stored token records are checked field by field on every read: a record with a wrong type in it
 * (a string `expiresAt` compares as `NaN`, so a stale token would look valid forever) is skipped
 * with a warning, never served and never a crash.
 *
 * @module
 */
import type { TokenKey } from '@keyfob/core'

/** Something a store skipped or repaired, told through the store's `onWarning` option. */
export interface StoreWarning {
  /** `WARN_INVALID_RECORD`: a stored record (or its key) is not in the known shape; it was skipped. */
  readonly code: 'WARN_INVALID_RECORD'
  /** What was wrong, where (the file or keychain entry) and what to do; never a secret. */
  readonly message: string
  /** The file, or the keychain service, the record was read from. */
  readonly source: string
  /** The key of the skipped record, when it could be read. */
  readonly key?: TokenKey
  /** The field that was wrong, e.g. `record.expiresAt`. */
  readonly field: string
}

/** Receives a store's warnings. */
export type WarningHandler = (warning: StoreWarning) => void

/**
 * The default warning handler: one line on `console.warn` (stderr), so a skipped record is never
 * silent.
 *
 * @internal
 */
export const warnOnConsole: WarningHandler = (warning) => console.warn(`keyfob: ${warning.message}`)

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const STRINGS = ['accessToken', 'tokenType', 'refreshToken', 'idToken', 'scope'] as const
const TIMES = ['expiresAt', 'refreshExpiresAt'] as const

/**
 * What is wrong with a stored token record: the path of the first bad field and why, or
 * `undefined` when every known field has its type. Unknown fields are allowed (a newer version
 * may have written them). A DPoP key (`dpopKey`) is `{ alg, jwk }` with string JWK members, `kty`
 * and the private `d` among them. Never mentions a value.
 *
 * @internal
 */
export function recordProblem(value: unknown): { field: string; why: string } | undefined {
  if (!isObject(value)) return { field: 'record', why: 'must be an object' }
  if (typeof value.updatedAt !== 'number' || !Number.isFinite(value.updatedAt))
    return { field: 'record.updatedAt', why: 'must be a finite number (epoch ms)' }
  for (const field of TIMES) {
    const v = value[field]
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v)))
      return { field: `record.${field}`, why: 'must be a finite number (epoch ms) when present' }
  }
  for (const field of STRINGS) {
    const v = value[field]
    if (v !== undefined && typeof v !== 'string')
      return { field: `record.${field}`, why: 'must be a string when present' }
  }
  if (value.dpopKey !== undefined) {
    const key = value.dpopKey
    if (!isObject(key)) return { field: 'record.dpopKey', why: 'must be an object { alg, jwk } when present' }
    if (typeof key.alg !== 'string' || key.alg === '')
      return { field: 'record.dpopKey.alg', why: 'must be a JWS algorithm name' }
    if (!isObject(key.jwk)) return { field: 'record.dpopKey.jwk', why: 'must be a JWK object' }
    for (const [member, v] of Object.entries(key.jwk))
      if (typeof v !== 'string')
        return { field: `record.dpopKey.jwk.${member}`, why: 'must be a string (a JWK member)' }
    if (typeof key.jwk.kty !== 'string') return { field: 'record.dpopKey.jwk.kty', why: 'is missing' }
    if (typeof key.jwk.d !== 'string')
      return { field: 'record.dpopKey.jwk.d', why: 'is missing: a DPoP key record holds the private key' }
  }
  return undefined
}

/**
 * What is wrong with a stored token key, or `undefined`.
 *
 * @internal
 */
export function keyProblem(value: Record<string, unknown>): { field: string; why: string } | undefined {
  if (typeof value.issuer !== 'string' || value.issuer === '')
    return { field: 'issuer', why: 'must be a non-empty string' }
  if (typeof value.clientId !== 'string' || value.clientId === '')
    return { field: 'clientId', why: 'must be a non-empty string' }
  if (value.account !== undefined && typeof value.account !== 'string')
    return { field: 'account', why: 'must be a string when present' }
  return undefined
}

/** A key for messages: `clientId@issuer#account`. @internal */
export function describeKey(key: TokenKey): string {
  return `${key.clientId}@${key.issuer}${key.account ? `#${key.account}` : ''}`
}

/**
 * Reports each distinct problem once per store: a bad record read on every call would otherwise
 * repeat the same warning.
 *
 * @internal
 */
export function onceEach(handler: WarningHandler): WarningHandler {
  const told = new Set<string>()
  return (warning) => {
    const id = `${warning.source}\u001f${warning.key ? describeKey(warning.key) : ''}\u001f${warning.field}`
    if (told.has(id)) return
    told.add(id)
    handler(warning)
  }
}
