/**
 * What the command line and the environment say, read the same way by every command: which
 * stores, which login (the flags; `resolveLogin` of @keyfob/flows decides), which client secret.
 * Decisions live in the packages; this only reads flags.
 *
 * @module
 */
import type { ClientEntry, TokenKey, TokenStore } from '@keyfob/core'
import type { LoginSelection } from '@keyfob/flows'
import {
  defaultPaths,
  type FileConfigStore,
  fallbackTokenStore,
  fileConfigStore,
  fileTokenStore,
  type KeyfobPaths,
  keychainTokenStore,
  locatedTokenStore,
  locationIs,
  withTokenLocation,
} from '@keyfob/store'
import { type Context, UsageError } from './context.ts'

/** The stores and paths of this run. */
export interface Stores {
  readonly paths: KeyfobPaths
  readonly config: FileConfigStore
  /**
   * The token store: the one `--store` (or `$KEYFOB_STORE`) names, else each login where it lives
   * (the file store, or the keychain when the configuration records it there).
   */
  readonly tokens: TokenStore
  /** `file`, `keychain` or `auto`, as asked; `file` (the default) when not asked. */
  readonly kind: string
  /** Whether `--store` or `$KEYFOB_STORE` named the store. */
  readonly asked: boolean
}

const KINDS = ['file', 'keychain', 'auto']

/**
 * Opens the configuration and token stores as `--store`, `--config-dir`, `--data-dir` (or their
 * environment variables) say. Nothing is read or created yet. Without `--store`, a login is
 * found where it lives: the file store by default (fast, and the same on a laptop, a server and
 * CI), the keychain for a login made with `--store keychain` (or `auto`), as the configuration
 * records it.
 *
 * `--store auto` picks where a new login goes (the keychain when it works, else the file store,
 * with a note); for every other command it means "wherever each login lives", so a login known to
 * live in a locked keychain says so (exit 4) rather than looking absent.
 *
 * @param ctx - The run.
 * @param purpose - `login` when a new login will be stored; `read` otherwise.
 * @returns The stores.
 * @throws UsageError for an unknown `--store`.
 */
export function openStores(ctx: Context, purpose: 'read' | 'login' = 'read'): Stores {
  const env = {
    ...ctx.env,
    ...(ctx.globals.configDir ? { KEYFOB_CONFIG_DIR: ctx.globals.configDir } : {}),
    ...(ctx.globals.dataDir ? { KEYFOB_DATA_DIR: ctx.globals.dataDir } : {}),
  }
  const paths = defaultPaths({ env })
  const config = fileConfigStore({ dir: paths.configDir })
  const asked = ctx.globals.store ?? (ctx.env.KEYFOB_STORE || undefined)
  if (asked !== undefined && !KINDS.includes(asked))
    throw new UsageError(`--store ${JSON.stringify(asked)} is not one of ${KINDS.join(', ')}`)
  const file = () => fileTokenStore({ dir: paths.dataDir })
  const keychain = () => keychainTokenStore({ lockDir: paths.dataDir })
  const tokens =
    asked === 'file'
      ? file()
      : asked === 'keychain'
        ? keychain()
        : asked === 'auto' && purpose === 'login'
          ? fallbackTokenStore([keychain(), file()], {
              onSelect: (store, skipped) => {
                for (const s of skipped)
                  ctx.note(`note: not using the ${s.kind} store (${s.code}); using the ${store.kind} store`)
              },
            })
          : locatedTokenStore({
              file: file(),
              keychain,
              locations: async () => (await config.read()).tokenLocations ?? [],
            })
  return { paths, config, tokens, kind: asked ?? 'file', asked: asked !== undefined }
}

/**
 * Records where a login's tokens now live, after a command put them in a store the user named
 * (`--store keychain`, or `auto` choosing one), so that later commands find them unasked.
 *
 * @param stores - The stores of this run.
 * @param key - The login.
 */
export async function rememberLocation(stores: Stores, key: TokenKey): Promise<void> {
  if (!stores.asked) return
  const where = stores.tokens.kind === 'keychain' ? 'keychain' : 'file'
  if (where === 'file') await forgetLocation(stores, key)
  else await stores.config.update((c) => withTokenLocation(c, key, where))
}

/**
 * Forgets where a removed login lived.
 *
 * @param stores - The stores of this run.
 * @param key - The login.
 */
export async function forgetLocation(stores: Stores, key: TokenKey): Promise<void> {
  const recorded = (await stores.config.read()).tokenLocations ?? []
  if (recorded.some((l) => locationIs(l, key)))
    await stores.config.update((c) => withTokenLocation(c, key, 'file'))
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
