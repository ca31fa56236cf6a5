/**
 * What the command line and the environment say, read the same way by every command: which
 * stores, which login (the flags; `resolveLogin` of @keyfob/flows decides), which client secret.
 * Decisions live in the packages; this only reads flags.
 *
 * @module
 */
import type { ClientEntry, TokenStore } from '@keyfob/core'
import type { LoginSelection } from '@keyfob/flows'
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

/** Reads the flags that pick a login (`--provider-id`, `--client-id`, `--api`, `--account`). */
export function selectionOf(values: Record<string, unknown>): LoginSelection {
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

/**
 * The client as a command that talks to the token, revocation or introspection endpoint uses it:
 * its configured secret, else `--client-secret`, else `$KEYFOB_CLIENT_SECRET`. The one place
 * every such command (login, token, logout, status --check, git-credential) gets the secret from.
 *
 * @param ctx - The run (its environment).
 * @param values - The parsed flags.
 * @param client - The client from the configuration or the login.
 * @returns The client, with a secret when one was given.
 */
export function withClientSecret(
  ctx: Context,
  values: Record<string, unknown>,
  client: ClientEntry,
): ClientEntry {
  if (client.clientSecret !== undefined) return client
  const flag = values['client-secret']
  const secret = typeof flag === 'string' ? flag : ctx.env.KEYFOB_CLIENT_SECRET || undefined
  return secret ? { ...client, clientSecret: secret } : client
}

/** The client secret the command line gives: `--client-secret`, else `$KEYFOB_CLIENT_SECRET`. */
export function secretOf(ctx: Context, values: Record<string, unknown>): string | undefined {
  return withClientSecret(ctx, values, { clientId: '' }).clientSecret
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
