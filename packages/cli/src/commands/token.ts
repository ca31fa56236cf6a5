/**
 * `keyfob token`: a valid access token on stdout, for scripts. A token with enough life left is
 * printed straight from the store; only a refresh loads the protocol code.
 *
 * @module
 */
import { type ClientEntry, type TokenRecord, TokenSet } from '@keyfob/core'
import { findLogin, openStores, secretOf, selectionOf, withSecret } from '../app.ts'
import { type Context, EXIT, parseDuration } from '../context.ts'

/** Prints the access token of the selected login, refreshing it first when needed. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const minTtlMs =
    typeof values['min-ttl'] === 'string' ? parseDuration(values['min-ttl'], 'min-ttl') : 60_000
  const { config, tokens } = openStores(ctx)
  const found = await findLogin(await config.read(), tokens, selectionOf(values))
  // A secret kept out of the config (given to `login` through the environment) renews the same way.
  const login = { ...found, client: withSecret(found.client, secretOf(ctx, values)) }
  const stored = await tokens.get(login.key)
  let token: string
  let expiresAt: number | undefined
  if (stored && !TokenSet.fromRecord(stored).expiresWithin(Date.now(), minTtlMs)) {
    token = stored.accessToken as string
    expiresAt = stored.expiresAt
  } else {
    const { Session, clientCredentials } = await import('@keyfob/flows')
    const session = new Session({
      issuer: login.key.issuer,
      client: login.client,
      store: tokens,
      ...(login.key.account ? { account: login.key.account } : {}),
      refreshMarginMs: minTtlMs,
      signal: ctx.signal,
      // A client-credentials login has no user and no refresh token: renewing it is running the
      // grant again. A user's login never silently turns into the client's own identity.
      ...(isClientLogin(stored, login.client) ? { login: (options) => clientCredentials(options) } : {}),
    })
    token = await session.accessToken({ minTtlMs })
    expiresAt = (await tokens.get(login.key))?.expiresAt
  }
  if (ctx.globals.json)
    ctx.json({
      accessToken: token,
      expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
      issuer: login.key.issuer,
      clientId: login.key.clientId,
    })
  else ctx.out(`${token}\n`)
  return EXIT.ok
}

/** A stored login that came from the client-credentials grant: a secret, no user, no refresh token. */
function isClientLogin(stored: TokenRecord | undefined, client: ClientEntry): boolean {
  return (
    stored !== undefined &&
    stored.refreshToken === undefined &&
    stored.idToken === undefined &&
    client.clientSecret !== undefined &&
    (client.grantTypes === undefined || client.grantTypes.includes('client_credentials'))
  )
}
