/**
 * Stored logins: which one a request is about, what state it is in, and how it is renewed — the
 * decisions every front end (the `keyfob` CLI, an SDK, a GUI) must make the same way.
 *
 * @module
 */
import {
  type ClientEntry,
  type Grant,
  type KeyfobConfig,
  KeyfobError,
  normalizeApiUrl,
  type ProviderEntry,
  resolveProvider,
  type TokenKey,
  type TokenRecord,
  type TokenStore,
} from '@keyfob/core'

/** What picks a stored login: a provider (by id or through an API), a client and an account. */
export interface LoginSelection {
  /** The provider id in the configuration. */
  readonly providerId?: string
  /** The OAuth client id. */
  readonly clientId?: string
  /** An API base URL: choose among its providers. */
  readonly api?: string
  /** The local account label; default the configured default account. */
  readonly account?: string
}

/** A stored login and what the configuration says about it. */
export interface Login {
  /** The store key of its tokens. */
  readonly key: TokenKey
  /** Its provider id, when the configuration has one for it. */
  readonly providerId?: string
  /** Its provider's settings, when configured. */
  readonly provider?: ProviderEntry
  /** The client (with its configured secret, if any). */
  readonly client: ClientEntry
}

/**
 * The account label a selection means: the one named, else the configuration's default; `default`
 * and the empty string mean no label.
 *
 * @param selection - The selection.
 * @param config - The configuration.
 * @returns The label, or `undefined` for the default account.
 * @example
 * ```ts
 * accountOf({ account: 'work' }, config) // 'work'
 * ```
 */
export function accountOf(selection: LoginSelection, config: KeyfobConfig): string | undefined {
  const account = selection.account ?? config.defaultAccount
  return account === undefined || account === '' || account === 'default' ? undefined : account
}

/**
 * A token key from its parts.
 *
 * @param issuer - The issuer.
 * @param clientId - The client id.
 * @param account - The account label, or `undefined` for the default account.
 * @returns The key.
 * @example
 * ```ts
 * const key = tokenKeyOf('https://idp.example', 'cli', undefined)
 * ```
 */
export function tokenKeyOf(issuer: string, clientId: string, account: string | undefined): TokenKey {
  return { issuer, clientId, ...(account !== undefined ? { account } : {}) }
}

/**
 * The client entry for a client id at a provider: the configured client or default client with
 * that id (secret included), else a bare `{ clientId }`.
 *
 * @param provider - The provider's settings, if configured.
 * @param clientId - The client id.
 * @returns The client.
 * @example
 * ```ts
 * const client = clientOf(config.providers.egi, 'cli')
 * ```
 */
export function clientOf(provider: ProviderEntry | undefined, clientId: string): ClientEntry {
  if (provider?.client?.clientId === clientId) return provider.client
  return provider?.defaultClients?.find((c) => c.clientId === clientId) ?? { clientId }
}

/**
 * The provider ids of the configuration that a login belongs to: those with its issuer that use
 * its client (configured or advertised), else every one with its issuer.
 *
 * @param config - The configuration.
 * @param key - The login's key.
 * @returns The ids, in configuration order (empty when the issuer is not configured).
 * @example
 * ```ts
 * providerIdsOf(config, { issuer: 'https://aai.egi.eu/auth/realms/egi', clientId: 'openeo' }) // ['egi']
 * ```
 */
export function providerIdsOf(config: KeyfobConfig, key: TokenKey): string[] {
  const atIssuer = Object.entries(config.providers).filter(([, p]) => p.issuer === key.issuer)
  const withClient = atIssuer.filter(
    ([, p]) =>
      p.client?.clientId === key.clientId || p.defaultClients?.some((c) => c.clientId === key.clientId),
  )
  return (withClient.length > 0 ? withClient : atIssuer).map(([id]) => id)
}

/**
 * The stored login a request is about: the provider resolved from the configuration (named,
 * through an API, the only one, or the default), then the client named, else the configured
 * client's login, else the one login of this account at this provider (made with a default client
 * or another client id).
 *
 * @param config - The configuration.
 * @param tokens - The token store (listed only when the client is not named).
 * @param selection - What the user named.
 * @returns The login; its key may have no record yet (the caller decides what that means).
 * @throws KeyfobError `ERR_NO_PROVIDER`, `ERR_UNKNOWN_PROVIDER`, `ERR_AMBIGUOUS_PROVIDER`; `ERR_LOGIN_REQUIRED` when there is no login, or several and none is named.
 * @example
 * ```ts
 * const login = await resolveLogin(await config.read(), tokens, { providerId: 'egi' })
 * const record = await tokens.get(login.key)
 * ```
 */
export async function resolveLogin(
  config: KeyfobConfig,
  tokens: TokenStore,
  selection: LoginSelection,
): Promise<Login> {
  const { id, provider } = resolveProvider(config, {
    ...(selection.providerId !== undefined ? { providerId: selection.providerId } : {}),
    ...(selection.api !== undefined ? { apiUrl: normalizeApiUrl(selection.api) } : {}),
  })
  const account = accountOf(selection, config)
  const login = (clientId: string): Login => ({
    key: tokenKeyOf(provider.issuer, clientId, account),
    providerId: id,
    provider,
    client: clientOf(provider, clientId),
  })
  if (selection.clientId !== undefined) return login(selection.clientId)
  const stored = (await tokens.list()).filter(
    (e) => e.key.issuer === provider.issuer && (e.key.account ?? undefined) === account,
  )
  const configured = provider.client?.clientId
  if (configured !== undefined && (stored.length === 0 || stored.some((e) => e.key.clientId === configured)))
    return login(configured)
  const only = stored.length === 1 ? stored[0] : undefined
  if (only) return login(only.key.clientId)
  throw new KeyfobError(
    'ERR_LOGIN_REQUIRED',
    stored.length === 0
      ? `not logged in to ${id} (${provider.issuer})${account ? ` as account ${account}` : ''}; run keyfob login --provider-id ${id}`
      : `several logins at ${id} (clients ${stored.map((e) => e.key.clientId).join(', ')}); pass --client-id`,
    { cause: { provider: id, account } },
  )
}

/**
 * The unverified claims of a JWT's payload, for display only (who is logged in), or `undefined`.
 *
 * @param jwt - The token.
 * @returns The claims.
 * @example
 * ```ts
 * unverifiedClaims(record.idToken)?.sub
 * ```
 */
export function unverifiedClaims(jwt: string | undefined): Record<string, unknown> | undefined {
  const payload = jwt?.split('.')[1]
  if (!payload) return undefined
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/')
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))
    const json = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)))
    const claims: unknown = JSON.parse(json)
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** The state of one stored login, without any secret: `keyfob status --json`'s shape. */
export interface LoginStatus {
  /** The issuer. */
  readonly issuer: string
  /** The provider ids of the configuration it belongs to. */
  readonly providerIds: readonly string[]
  /** The client id. */
  readonly clientId: string
  /** The account label, `null` for the default account. */
  readonly account: string | null
  /** The ID token's `sub`, if there is an ID token. */
  readonly subject: string | null
  /** A display name from the ID token (`name`, `preferred_username` or `email`). */
  readonly name: string | null
  /** The granted scope. */
  readonly scope: string | null
  /** The access token: present, when it expires, whether it is valid now. */
  readonly accessToken: {
    readonly present: boolean
    readonly expiresAt: string | null
    readonly expiresInSeconds: number | null
    readonly valid: boolean
  }
  /** The refresh token: present, and when it expires if the provider said. */
  readonly refreshToken: { readonly present: boolean; readonly expiresAt: string | null }
  /** Whether the login can give an access token without the user: a valid one or a refresh token. */
  readonly usable: boolean
  /** The DPoP key's algorithm when the tokens are DPoP-bound (RFC 9449), else `null`. */
  readonly dpop: { readonly alg: string } | null
  /** When the record was written (ISO 8601). */
  readonly updatedAt: string
}

/**
 * Describes a stored login at a moment, without any secret.
 *
 * @param key - Its key.
 * @param record - Its record.
 * @param config - The configuration, for provider ids.
 * @param nowMs - The time (epoch ms).
 * @returns The description.
 * @example
 * ```ts
 * for (const { key, record } of await tokens.list()) console.log(loginStatus(key, record, config, Date.now()))
 * ```
 */
export function loginStatus(
  key: TokenKey,
  record: TokenRecord,
  config: KeyfobConfig,
  nowMs: number,
): LoginStatus {
  const claims = unverifiedClaims(record.idToken)
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())
  const present = record.accessToken !== undefined
  const valid = present && (record.expiresAt === undefined || record.expiresAt > nowMs)
  const refreshable =
    record.refreshToken !== undefined &&
    (record.refreshExpiresAt === undefined || record.refreshExpiresAt > nowMs)
  const str = (v: unknown) => (typeof v === 'string' ? v : null)
  return {
    issuer: key.issuer,
    providerIds: providerIdsOf(config, key),
    clientId: key.clientId,
    account: key.account ?? null,
    subject: str(claims?.sub),
    name: str(claims?.name) ?? str(claims?.preferred_username) ?? str(claims?.email),
    scope: record.scope ?? null,
    accessToken: {
      present,
      expiresAt: iso(record.expiresAt),
      expiresInSeconds: record.expiresAt === undefined ? null : Math.round((record.expiresAt - nowMs) / 1000),
      valid,
    },
    refreshToken: { present: record.refreshToken !== undefined, expiresAt: iso(record.refreshExpiresAt) },
    usable: valid || refreshable,
    dpop: record.dpopKey === undefined ? null : { alg: record.dpopKey.alg },
    updatedAt: new Date(record.updatedAt).toISOString(),
  }
}

/** The ways a user logs in, as a front end names them. */
export type LoginMethod = 'device' | 'browser' | 'client-credentials' | 'password'

/** The grant each login method runs (what `resolveClient` of @keyfob/core picks a client for). */
export const LOGIN_GRANTS: Readonly<Record<LoginMethod, Grant>> = {
  device: 'device',
  browser: 'authorization_code',
  'client-credentials': 'client_credentials',
  password: 'password',
}

/**
 * Whether a stored login came from the client-credentials grant (a client with a secret, no user,
 * no refresh token): renewing it means running that grant again. A user's login never silently
 * turns into the client's own identity.
 *
 * @param record - The stored record, if any.
 * @param client - The login's client.
 * @returns Whether to renew by client credentials.
 * @example
 * ```ts
 * const login = renewsByClientCredentials(record, client) ? (o) => clientCredentials(o) : undefined
 * ```
 */
export function renewsByClientCredentials(record: TokenRecord | undefined, client: ClientEntry): boolean {
  return (
    record !== undefined &&
    record.refreshToken === undefined &&
    record.idToken === undefined &&
    client.clientSecret !== undefined &&
    (client.grantTypes === undefined || client.grantTypes.includes('client_credentials'))
  )
}
