/** `keyfob logout`: revoke at the provider, then forget. @module */
import { clientFor, findLogin, type Login, openStores, selectionOf } from '../app.ts'
import { type Context, EXIT } from '../context.ts'

/** Revokes the selected login's tokens (or every login with `--all`) and removes them. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const { config, tokens } = openStores(ctx)
  const current = await config.read()
  const logins: Login[] =
    values.all === true
      ? (await tokens.list()).map(({ key }) => {
          const provider = Object.values(current.providers).find((p) => p.issuer === key.issuer)
          return { key, client: clientFor(provider, key.clientId) }
        })
      : [await findLogin(current, tokens, selectionOf(values))]
  const { Session } = await import('@keyfob/flows')
  const results = []
  for (const login of logins) {
    const session = new Session({
      issuer: login.key.issuer,
      client: login.client,
      store: tokens,
      ...(login.key.account ? { account: login.key.account } : {}),
      signal: ctx.signal,
      timeoutMs: 10_000,
    })
    const result = await session.logout()
    results.push({
      issuer: login.key.issuer,
      clientId: login.key.clientId,
      account: login.key.account ?? null,
      ...result,
    })
  }
  if (ctx.globals.json) ctx.json({ logouts: results })
  else if (results.length === 0) ctx.note('Not logged in anywhere.')
  else
    for (const r of results)
      ctx.note(
        r.revoked
          ? `Logged out of ${r.issuer} (${r.clientId}): tokens revoked and removed.`
          : `Removed the tokens for ${r.issuer} (${r.clientId}), but the provider did not confirm the revocation: ${r.reason?.message ?? 'unknown reason'}`,
      )
  return EXIT.ok
}
