/**
 * What several commands share: opening the stores the flags ask for, finding the login a command
 * is about, and describing a stored login. Decisions live in the packages; this only wires them.
 *
 * @module
 */
import {
  type ClientEntry,
  type KeyfobConfig,
  KeyfobError,
  normalizeApiUrl,
  type ProviderEntry,
  resolveProvider,
  type TokenKey,
  type TokenRecord,
  type TokenStore,
} from '@keyfob/core'
import {
  defaultPaths,
  type FileConfigStore,
  fallbackTokenStore,
  fileConfigStore,
  fileTokenStore,
  type KeyfobPaths,
  keychainTokenStore,
} from '@keyfob/store'
import { type Context, UsageError } from './context.ts'

/** The stores and paths of this run. */
export interface Stores {
  readonly paths: KeyfobPaths
  readonly config: FileConfigStore
  readonly tokens: TokenStore
  /** `file`, `keychain` or `auto`, as asked. */
  readonly kind: string
}

const KINDS = ['file', 'keychain', 'auto']

/**
 * Opens the configuration and token stores as `--store`, `--config-dir`, `--data-dir` (or their
 * environment variables) say. Nothing is read or created yet.
 *
 * @param ctx - The run.
 * @returns The stores.
 * @throws UsageError for an unknown `--store`.
 */
export function openStores(ctx: Context): Stores {
  const env = {
    ...ctx.env,
    ...(ctx.globals.configDir ? { KEYFOB_CONFIG_DIR: ctx.globals.configDir } : {}),
    ...(ctx.globals.dataDir ? { KEYFOB_DATA_DIR: ctx.globals.dataDir } : {}),
  }
  const paths = defaultPaths({ env })
  const kind = ctx.globals.store ?? (ctx.env.KEYFOB_STORE || 'file')
  if (!KINDS.includes(kind))
    throw new UsageError(`--store ${JSON.stringify(kind)} is not one of ${KINDS.join(', ')}`)
  const file = () => fileTokenStore({ dir: paths.dataDir })
  const keychain = () => keychainTokenStore({ lockDir: paths.dataDir })
  const tokens =
    kind === 'file'
      ? file()
      : kind === 'keychain'
        ? keychain()
        : fallbackTokenStore([keychain(), file()], {
            onSelect: (store, skipped) => {
              for (const s of skipped)
                ctx.note(`note: not using the ${s.kind} store (${s.code}); using the ${store.kind} store`)
            },
          })
  return { paths, config: fileConfigStore({ dir: paths.configDir }), tokens, kind }
}

/** What a command is about: flags that pick a provider, client and account. */
export interface Selection {
  readonly providerId?: string
  readonly clientId?: string
  readonly api?: string
  readonly account?: string
}

/** Reads the selection flags of a parsed command line. */
export function selectionOf(values: Record<string, unknown>): Selection {
  const pick = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined)
  const providerId = pick('provider-id')
  const clientId = pick('client-id')
  const api = pick('api')
  const account = pick('account')
  return {
    ...(providerId !== undefined ? { providerId } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
    ...(api !== undefined ? { api } : {}),
    ...(account !== undefined ? { account } : {}),
  }
}

/** The account label to use: the flag, else the configured default, else none. */
export function accountOf(selection: Selection, config: KeyfobConfig): string | undefined {
  const account = selection.account ?? config.defaultAccount
  return account === undefined || account === '' || account === 'default' ? undefined : account
}

/** The client secret the command line gives: `--client-secret`, else `$KEYFOB_CLIENT_SECRET`. */
export function secretOf(ctx: Context, values: Record<string, unknown>): string | undefined {
  const flag = values['client-secret']
  return typeof flag === 'string' ? flag : ctx.env.KEYFOB_CLIENT_SECRET || undefined
}

/** The client with `secret` added, unless it has one from the configuration already. */
export function withSecret(client: ClientEntry, secret: string | undefined): ClientEntry {
  return secret && client.clientSecret === undefined ? { ...client, clientSecret: secret } : client
}

/** The client entry for a client id at a provider (with its secret when configured). */
export function clientFor(provider: ProviderEntry | undefined, clientId: string): ClientEntry {
  if (provider?.client?.clientId === clientId) return provider.client
  return provider?.defaultClients?.find((c) => c.clientId === clientId) ?? { clientId }
}

/** A stored login and what the configuration says about it. */
export interface Login {
  readonly key: TokenKey
  readonly providerId?: string
  readonly provider?: ProviderEntry
  readonly client: ClientEntry
}

/**
 * The stored login a command is about: the provider resolved from the configuration (named, the
 * only one, or the default), the client named or configured or the one logged in with, and the
 * account.
 *
 * @param config - The configuration.
 * @param tokens - The token store.
 * @param selection - The flags.
 * @returns The login (its key may have no record yet: the caller decides what that means).
 * @throws KeyfobError `ERR_NO_PROVIDER`, `ERR_UNKNOWN_PROVIDER`, `ERR_AMBIGUOUS_PROVIDER`; `ERR_LOGIN_REQUIRED` when the provider has several logins and none is named.
 */
export async function findLogin(
  config: KeyfobConfig,
  tokens: TokenStore,
  selection: Selection,
): Promise<Login> {
  const { id, provider } = resolveProvider(config, {
    ...(selection.providerId !== undefined ? { providerId: selection.providerId } : {}),
    ...(selection.api !== undefined ? { apiUrl: normalizeApiUrl(selection.api) } : {}),
  })
  const account = accountOf(selection, config)
  const login = (clientId: string): Login => ({
    key: keyOf(provider.issuer, clientId, account),
    providerId: id,
    provider,
    client: clientFor(provider, clientId),
  })
  if (selection.clientId !== undefined) return login(selection.clientId)
  // The configured client's login, else the one login of this account at this provider (made with
  // a default client or an explicit --client-id).
  const stored = (await tokens.list()).filter(
    (e) => e.key.issuer === provider.issuer && (e.key.account ?? undefined) === account,
  )
  const configured = provider.client?.clientId
  if (configured !== undefined && (stored.length === 0 || stored.some((e) => e.key.clientId === configured)))
    return login(configured)
  const only = stored.length === 1 ? stored[0] : undefined
  if (only) return { key: only.key, providerId: id, provider, client: clientFor(provider, only.key.clientId) }
  throw new KeyfobError(
    'ERR_LOGIN_REQUIRED',
    stored.length === 0
      ? `not logged in to ${id} (${provider.issuer})${account ? ` as account ${account}` : ''}; run keyfob login --provider-id ${id}`
      : `several logins at ${id} (clients ${stored.map((e) => e.key.clientId).join(', ')}); pass --client-id`,
    { cause: { provider: id, account } },
  )
}

/** A token key. */
export function keyOf(issuer: string, clientId: string, account: string | undefined): TokenKey {
  return { issuer, clientId, ...(account !== undefined ? { account } : {}) }
}

/**
 * The provider ids of the configuration a login belongs to: those with its issuer that use its
 * client (configured or advertised), else every one with its issuer.
 */
export function providerIdsOf(config: KeyfobConfig, issuer: string, clientId: string): string[] {
  const atIssuer = Object.entries(config.providers).filter(([, p]) => p.issuer === issuer)
  const withClient = atIssuer.filter(
    ([, p]) => p.client?.clientId === clientId || p.defaultClients?.some((c) => c.clientId === clientId),
  )
  return (withClient.length > 0 ? withClient : atIssuer).map(([id]) => id)
}

/** The claims of a JWT's payload, unverified (for display only), or `undefined`. */
export function claimsOf(jwt: string | undefined): Record<string, unknown> | undefined {
  const payload = jwt?.split('.')[1]
  if (!payload) return undefined
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/** The stable `status --json` shape of one stored login. See the README. */
export interface LoginStatus {
  readonly issuer: string
  readonly providerIds: readonly string[]
  readonly clientId: string
  readonly account: string | null
  readonly subject: string | null
  readonly name: string | null
  readonly scope: string | null
  readonly accessToken: {
    readonly present: boolean
    readonly expiresAt: string | null
    readonly expiresInSeconds: number | null
    readonly valid: boolean
  }
  readonly refreshToken: { readonly present: boolean; readonly expiresAt: string | null }
  readonly updatedAt: string
}

/**
 * Describes a stored login for `status` and `login --json`, without any secret.
 *
 * @param key - Its key.
 * @param record - Its record.
 * @param config - The configuration, for provider ids.
 * @param nowMs - The time.
 * @returns The description.
 */
export function statusOf(
  key: TokenKey,
  record: TokenRecord,
  config: KeyfobConfig,
  nowMs: number,
): LoginStatus {
  const claims = claimsOf(record.idToken)
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())
  const present = record.accessToken !== undefined
  const valid = present && (record.expiresAt === undefined || record.expiresAt > nowMs)
  const str = (v: unknown) => (typeof v === 'string' ? v : null)
  return {
    issuer: key.issuer,
    providerIds: providerIdsOf(config, key.issuer, key.clientId),
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
    updatedAt: new Date(record.updatedAt).toISOString(),
  }
}

/** "in 59 min", "3 h 2 min ago", for humans. */
export function relative(ms: number): string {
  const abs = Math.abs(ms)
  const text =
    abs < 90_000
      ? `${Math.round(abs / 1000)} s`
      : abs < 5_400_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 172_800_000
          ? `${Math.floor(abs / 3_600_000)} h ${Math.round((abs % 3_600_000) / 60_000)} min`
          : `${Math.round(abs / 86_400_000)} days`
  return ms >= 0 ? `in ${text}` : `${text} ago`
}
