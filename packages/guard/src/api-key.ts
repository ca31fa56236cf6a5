/** `apiKeyAuth`: static API keys, compared as SHA-256 digests in constant time. @module */
import type { Context } from 'hono'
import { constantTimeEqual, hex, sha256 } from './digest.ts'
import { createEntry } from './entry.ts'
import { GuardError } from './errors.ts'
import { hasEntryOptions } from './options.ts'
import { challengeOf, quote } from './respond.ts'
import type { Denial, EntryOptions, GuardScheme, SchemeMiddleware, SchemeOutcome } from './types.ts'

/** One API key with an id (shown to handlers and logs instead of the key) and optional scopes. */
export interface ApiKeyEntry {
  /** A stable, non-secret id, e.g. `ci` or `partner-2026`. */
  readonly id: string
  /** The key itself. */
  readonly key: string
  /** Scopes this key grants (checked by `requireScopes`). */
  readonly scopes?: readonly string[]
}

/** One API key given as its SHA-256 digest, so the plaintext never sits in configuration. */
export interface ApiKeyHashEntry {
  /** A stable, non-secret id. */
  readonly id: string
  /** SHA-256 of the key's UTF-8 bytes: 64 hex digits or 43 base64url characters. */
  readonly sha256: string
  /** Scopes this key grants. */
  readonly scopes?: readonly string[]
}

/** Options of {@link apiKeyAuth}. Give exactly one of `keys`, `keyHashes` or `envPrefix`. */
export interface ApiKeyAuthOptions extends EntryOptions {
  /** The request header that carries the key; default `X-API-KEY` (matched case-insensitively). */
  readonly header?: string
  /**
   * Plain keys: strings (id = a fingerprint, `sha256:` + 12 hex digits), `{ id, key }` entries,
   * or a record of id to key. Several keys let you rotate: add the new one, move clients, remove
   * the old one.
   */
  readonly keys?: readonly (string | ApiKeyEntry)[] | Readonly<Record<string, string>>
  /** SHA-256 digests of the keys (`printf %s "$KEY" | sha256sum`), as entries or a record of id to digest. */
  readonly keyHashes?: readonly ApiKeyHashEntry[] | Readonly<Record<string, string>>
  /**
   * Read keys from every environment variable whose name starts with this prefix (fastgeoapi's
   * `PYGEOAPI_KEY_`); the rest of the name is the key id (`PYGEOAPI_KEY_GLOBAL` → `GLOBAL`).
   * Read once, when the middleware is created.
   */
  readonly envPrefix?: string
  /** The environment for `envPrefix`; default `process.env` (Node, Bun, Deno 2) or `Deno.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The shortest key accepted at startup; default 16 characters. Does not apply to `keyHashes`. */
  readonly minKeyLength?: number
  /** The `realm` of the `WWW-Authenticate: ApiKey …` challenge. */
  readonly realm?: string
}

interface PreparedKey {
  readonly id: string
  readonly digest: Uint8Array
  readonly scopes: readonly string[]
}

/** The longest header value hashed at all; longer values are refused unread. */
const MAX_KEY_LENGTH = 4096
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Protects routes with static API keys, the way fastgeoapi's `X-API-KEY` mode does, minus its
 * pitfalls: keys are compared as SHA-256 digests in constant time, may be configured as digests,
 * an empty or short key stops startup, several keys can be live at once for rotation, and the
 * matching key's **id** (never the key) is on `c.var.auth.keyId`.
 *
 * A missing or wrong key gets the same `401` (`{"error":"invalid_api_key"}` with
 * `WWW-Authenticate: ApiKey header="X-API-KEY"`); the difference only reaches `onEvent`.
 * Keys in the query string are never read.
 *
 * @param options - The key source (exactly one of `keys`, `keyHashes`, `envPrefix`), the header, public paths.
 * @returns A middleware; its `scheme` property lets {@link guard} combine it with other schemes.
 * @throws GuardError `ERR_MISSING_OPTION` without a key source; `ERR_CONFLICTING_OPTIONS` with
 *   two; `ERR_EMPTY_KEY` for an empty or short key; `ERR_DUPLICATE_KEY` for a repeated key or id;
 *   `ERR_INVALID_OPTION` for a malformed digest, header name or option.
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { apiKeyAuth, type GuardEnv } from '@keyfob/guard'
 *
 * const app = new Hono<GuardEnv>()
 * app.use('*', apiKeyAuth({ envPrefix: 'PYGEOAPI_KEY_', publicPaths: ['GET /openapi'] }))
 * app.get('/collections', (c) => c.json({ key: c.var.auth.keyId }))
 * ```
 */
export function apiKeyAuth(options: ApiKeyAuthOptions): SchemeMiddleware {
  const name = 'apiKeyAuth'
  if (options === null || typeof options !== 'object') {
    throw new GuardError('ERR_MISSING_OPTION', `${name}: options are required (keys, keyHashes or envPrefix)`)
  }
  const { header = 'X-API-KEY', realm, minKeyLength = 16 } = options
  if (typeof header !== 'string' || !HEADER_NAME.test(header)) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${name}: header must be an HTTP header name, got ${String(header)}`,
    )
  }
  if (header.toLowerCase() === 'authorization') {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${name}: header must not be Authorization (that is for Bearer tokens: use jwtAuth or oidcAuth)`,
    )
  }
  if (!Number.isInteger(minKeyLength) || minKeyLength < 1) {
    throw new GuardError('ERR_INVALID_OPTION', `${name}: minKeyLength must be a positive integer`)
  }
  const sources = (['keys', 'keyHashes', 'envPrefix'] as const).filter((k) => options[k] !== undefined)
  if (sources.length === 0) {
    throw new GuardError(
      'ERR_MISSING_OPTION',
      `${name}: no keys configured; give keys, keyHashes or envPrefix (an API with no keys would be open or closed by accident)`,
    )
  }
  if (sources.length > 1) {
    throw new GuardError(
      'ERR_CONFLICTING_OPTIONS',
      `${name}: give only one of keys, keyHashes or envPrefix, got ${sources.join(' and ')}`,
    )
  }
  const plain = plainKeys(options, name, minKeyLength)
  const hashed = options.keyHashes !== undefined ? hashedKeys(options.keyHashes, name) : undefined
  const ids = new Set<string>()
  for (const { id } of plain ?? hashed ?? []) {
    if (id === undefined) continue
    if (ids.has(id))
      throw new GuardError('ERR_DUPLICATE_KEY', `${name}: the key id ${JSON.stringify(id)} is used twice`)
    ids.add(id)
  }
  const prepared: Promise<PreparedKey[]> = plain
    ? Promise.all(
        plain.map(async (k) => {
          const digest = await sha256(k.key)
          return { id: k.id ?? `sha256:${hex(digest).slice(0, 12)}`, digest, scopes: k.scopes }
        }),
      )
    : Promise.resolve(hashed ?? [])
  // Surface nothing here: digests cannot fail; an unhandled rejection would only hide a bug.
  prepared.catch(() => {})

  const headerName = header.toLowerCase()
  const invalid: Denial = {
    status: 401,
    error: 'invalid_api_key',
    description: `a valid API key is required in the ${header} header`,
    reason: 'invalid_api_key',
    challengeError: false,
  }
  const scheme: GuardScheme = {
    kind: 'apiKey',
    name,
    present: (c: Context) => c.req.header(headerName) !== undefined,
    challenge: () => challengeOf('ApiKey', realm, [`header=${quote(header)}`]),
    missing: { ...invalid, reason: 'missing' },
    hasEntryOptions: hasEntryOptions(options),
    async authenticate(c: Context): Promise<SchemeOutcome> {
      const presented = c.req.header(headerName) ?? ''
      const keys = await prepared
      if (presented.length === 0 || presented.length > MAX_KEY_LENGTH) {
        return {
          ok: false,
          denial: { ...invalid, reason: presented.length === 0 ? 'malformed' : 'too_large' },
        }
      }
      const digest = await sha256(presented)
      let match: PreparedKey | undefined
      // Every configured key is compared, match or not, so timing says nothing about which.
      for (const key of keys) {
        const same = constantTimeEqual(digest, key.digest)
        if (same && match === undefined) match = key
      }
      if (!match) return { ok: false, denial: invalid }
      return { ok: true, auth: { scheme: 'apiKey', keyId: match.id, scopes: match.scopes, claims: {} } }
    },
  }
  return Object.assign(createEntry(name, [scheme], 'first-present', options), { scheme }) as SchemeMiddleware
}

interface PlainKey {
  readonly id: string | undefined
  readonly key: string
  readonly scopes: readonly string[]
}

function plainKeys(options: ApiKeyAuthOptions, name: string, minKeyLength: number): PlainKey[] | undefined {
  let entries: PlainKey[]
  if (options.keys !== undefined) {
    const keys = options.keys
    if (Array.isArray(keys)) {
      entries = keys.map((k, i) => {
        if (typeof k === 'string') return { id: undefined, key: k, scopes: [] }
        if (k && typeof k === 'object' && typeof k.key === 'string') {
          return { id: checkId(k.id, name, `keys[${i}].id`), key: k.key, scopes: checkScopes(k.scopes, name) }
        }
        throw new GuardError('ERR_INVALID_OPTION', `${name}: keys[${i}] must be a string or { id, key }`)
      })
    } else if (keys && typeof keys === 'object') {
      entries = Object.entries(keys as Record<string, unknown>).map(([id, key]) => {
        if (typeof key !== 'string') {
          throw new GuardError('ERR_INVALID_OPTION', `${name}: keys.${id} must be a string`)
        }
        return { id: checkId(id, name, 'a keys record id'), key, scopes: [] }
      })
    } else {
      throw new GuardError('ERR_INVALID_OPTION', `${name}: keys must be an array or a record of id to key`)
    }
    entries.forEach((e, i) => {
      checkKey(
        e.key,
        name,
        e.id !== undefined ? `the key with id ${JSON.stringify(e.id)}` : `keys[${i}]`,
        minKeyLength,
      )
    })
  } else if (options.envPrefix !== undefined) {
    const prefix = options.envPrefix
    if (typeof prefix !== 'string' || prefix.length === 0) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${name}: envPrefix must be a non-empty string such as "PYGEOAPI_KEY_"`,
      )
    }
    const env = options.env ?? defaultEnv()
    const names = Object.keys(env)
      .filter((k) => k.startsWith(prefix))
      .sort()
    if (names.length === 0) {
      throw new GuardError(
        'ERR_MISSING_OPTION',
        `${name}: no environment variable starts with ${prefix}; set e.g. ${prefix}GLOBAL to a random key of at least ${minKeyLength} characters`,
      )
    }
    entries = names.map((variable) => {
      const key = env[variable] ?? ''
      checkKey(key, name, `the environment variable ${variable}`, minKeyLength)
      return { id: variable.slice(prefix.length) || variable, key, scopes: [] }
    })
  } else {
    return undefined
  }
  if (entries.length === 0) {
    throw new GuardError('ERR_MISSING_OPTION', `${name}: keys is empty; give at least one key`)
  }
  const seen = new Set<string>()
  entries.forEach((e) => {
    if (seen.has(e.key)) {
      throw new GuardError(
        'ERR_DUPLICATE_KEY',
        `${name}: the same key is configured twice${e.id !== undefined ? ` (again as ${JSON.stringify(e.id)})` : ''}; every key must be distinct`,
      )
    }
    seen.add(e.key)
  })
  return entries
}

function hashedKeys(keyHashes: NonNullable<ApiKeyAuthOptions['keyHashes']>, name: string): PreparedKey[] {
  let entries: { id: string; sha256: unknown; scopes: readonly string[] }[]
  if (Array.isArray(keyHashes)) {
    entries = keyHashes.map((k, i) => {
      if (!k || typeof k !== 'object') {
        throw new GuardError('ERR_INVALID_OPTION', `${name}: keyHashes[${i}] must be { id, sha256 }`)
      }
      return {
        id: checkId(k.id, name, `keyHashes[${i}].id`),
        sha256: k.sha256,
        scopes: checkScopes(k.scopes, name),
      }
    })
  } else if (keyHashes && typeof keyHashes === 'object') {
    entries = Object.entries(keyHashes as Record<string, unknown>).map(([id, digest]) => ({
      id: checkId(id, name, 'a keyHashes record id'),
      sha256: digest,
      scopes: [],
    }))
  } else {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${name}: keyHashes must be an array or a record of id to digest`,
    )
  }
  if (entries.length === 0) {
    throw new GuardError('ERR_MISSING_OPTION', `${name}: keyHashes is empty; give at least one digest`)
  }
  const seen = new Set<string>()
  return entries.map((e) => {
    const digest = decodeDigest(e.sha256)
    if (!digest) {
      throw new GuardError(
        'ERR_INVALID_OPTION',
        `${name}: the digest of key ${JSON.stringify(e.id)} must be SHA-256 as 64 hex digits or 43 base64url characters (an empty key has no valid digest here)`,
      )
    }
    const h = hex(digest)
    if (h === EMPTY_SHA256) {
      throw new GuardError(
        'ERR_EMPTY_KEY',
        `${name}: the digest of key ${JSON.stringify(e.id)} is the SHA-256 of an empty key`,
      )
    }
    if (seen.has(h)) {
      throw new GuardError(
        'ERR_DUPLICATE_KEY',
        `${name}: the digest of key ${JSON.stringify(e.id)} is configured twice`,
      )
    }
    seen.add(h)
    return { id: e.id, digest, scopes: e.scopes }
  })
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

function checkKey(key: string, name: string, what: string, minKeyLength: number): void {
  if (key.trim().length === 0) {
    throw new GuardError(
      'ERR_EMPTY_KEY',
      `${name}: ${what} is empty; an empty key would accept an empty header. Set a random key of at least ${minKeyLength} characters`,
    )
  }
  if (key.length < minKeyLength) {
    throw new GuardError(
      'ERR_EMPTY_KEY',
      `${name}: ${what} is shorter than ${minKeyLength} characters; use a random key (e.g. 32 random bytes, base64url) or lower minKeyLength`,
    )
  }
}

function checkId(id: unknown, name: string, what: string): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new GuardError('ERR_INVALID_OPTION', `${name}: ${what} must be a non-empty string`)
  }
  return id
}

function checkScopes(scopes: unknown, name: string): readonly string[] {
  if (scopes === undefined) return []
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) {
    throw new GuardError('ERR_INVALID_OPTION', `${name}: scopes must be an array of strings`)
  }
  return [...new Set(scopes as string[])]
}

function decodeDigest(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string') return undefined
  if (/^[0-9a-fA-F]{64}$/.test(value)) {
    return Uint8Array.from(value.match(/../g) as string[], (b) => Number.parseInt(b, 16))
  }
  if (/^[A-Za-z0-9_-]{43}$/.test(value)) {
    const binary = atob(`${value.replace(/-/g, '+').replace(/_/g, '/')}=`)
    return Uint8Array.from(binary, (ch) => ch.charCodeAt(0))
  }
  return undefined
}

function defaultEnv(): Readonly<Record<string, string | undefined>> {
  const g = globalThis as {
    process?: { env?: Record<string, string | undefined> }
    Deno?: { env: { toObject(): Record<string, string> } }
  }
  if (g.process?.env) return g.process.env
  if (g.Deno?.env) return g.Deno.env.toObject()
  return {}
}
