/**
 * `keyfob token`: a valid access token on stdout, for scripts. `$KEYFOB_TOKEN` wins outright; a
 * stored token with enough life left is printed without a network call; otherwise the session
 * renews it (refresh token, or the client-credentials grant for a client's own login).
 *
 * @module
 */
import { clientCredentials, renewsByClientCredentials, resolveLogin, Session } from '@keyfob/flows'
import { type Context, EXIT, parseDuration } from '../context.ts'
import { openStores, relative, selectionOf, withClientSecret } from '../options.ts'

/** Prints the access token of the selected login, refreshing it first when needed. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  // As GH_TOKEN for gh: a token handed in by CI is the answer, and nothing else is consulted.
  const given = ctx.env.KEYFOB_TOKEN
  if (given) {
    if (ctx.globals.json) ctx.json({ accessToken: given, expiresAt: null, source: 'KEYFOB_TOKEN' })
    else ctx.out(`${given}\n`)
    return EXIT.ok
  }
  const minTtlMs =
    typeof values['min-ttl'] === 'string' ? parseDuration(values['min-ttl'], 'min-ttl') : 60_000
  const { config, tokens } = openStores(ctx)
  const found = await resolveLogin(await config.read(), tokens, selectionOf(values))
  // A secret kept out of the config (given to `login` through the environment) renews the same way.
  const login = { ...found, client: withClientSecret(ctx, values, found.client) }
  const stored = await tokens.get(login.key)
  const session = new Session({
    issuer: login.key.issuer,
    client: login.client,
    store: tokens,
    ...(login.key.account ? { account: login.key.account } : {}),
    refreshMarginMs: minTtlMs,
    signal: ctx.signal,
    // A client-credentials login has no user and no refresh token: renewing it is running the
    // grant again. A user's login never silently turns into the client's own identity.
    ...(renewsByClientCredentials(stored, login.client)
      ? { login: (options) => clientCredentials(options) }
      : {}),
  })
  const token = await session.accessToken({ minTtlMs })
  const record = token === stored?.accessToken ? stored : await tokens.get(login.key)
  const expiresAt = record?.expiresAt
  const now = Date.now()
  if (expiresAt !== undefined && expiresAt - now < minTtlMs && record?.updatedAt !== undefined) {
    // Renewed just now and still short: the provider's tokens are shorter than asked for.
    ctx.note(
      `note: the provider's access tokens last ${relative(expiresAt - record.updatedAt).replace(/^in /, '')}, less than --min-ttl ${values['min-ttl'] ?? '60s'}; every call renews the token`,
    )
  }
  if (ctx.globals.json)
    ctx.json({
      accessToken: token,
      expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
      issuer: login.key.issuer,
      clientId: login.key.clientId,
      providerId: login.providerId ?? null,
      account: login.key.account ?? null,
    })
  else ctx.out(`${token}\n`)
  return EXIT.ok
}
