/** `keyfob logout`: revoke at the provider, then forget. @module */
import { clientOf, type Login, type RevocationResult, resolveLogin } from '@keyfob/flows'
import { type Context, EXIT } from '../context.ts'
import { forgetLocation, openStores, selectionOf, withClientSecret } from '../options.ts'

const WHAT: Readonly<Record<string, string>> = {
  revoked: 'revoked',
  refused: 'refused by the provider',
  unreachable: 'not revoked: the provider could not be reached',
  unsupported: 'not revoked: the provider offers no revocation',
}

/**
 * Revokes the selected login's tokens (or every login with `--all`) and removes them. Says what
 * happened to each token; exits 5 when a revocation could not reach the provider, 1 when the
 * provider refused one (the tokens are removed locally either way, and the output says so).
 */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const stores = openStores(ctx)
  const { config, tokens } = stores
  const current = await config.read()
  const logins: Login[] =
    values.all === true
      ? (await tokens.list()).map(({ key }) => {
          const provider = Object.values(current.providers).find((p) => p.issuer === key.issuer)
          return { key, client: clientOf(provider, key.clientId) }
        })
      : [await resolveLogin(current, tokens, selectionOf(values))]
  const { Session } = await import('@keyfob/flows')
  const results: Array<{ issuer: string; clientId: string; account: string | null } & RevocationResult> = []
  for (const login of logins) {
    const session = new Session({
      issuer: login.key.issuer,
      // Revocation authenticates the client as the token endpoint does (RFC 7009 §2.1).
      client: withClientSecret(ctx, values, login.client),
      store: tokens,
      ...(login.key.account ? { account: login.key.account } : {}),
      signal: ctx.signal,
      timeoutMs: 10_000,
    })
    const result = await session.logout()
    await forgetLocation(stores, login.key)
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
    for (const r of results) {
      const who = `${r.issuer} (${r.clientId}${r.account ? `, account ${r.account}` : ''})`
      if (r.tokens.length === 0) {
        ctx.note(`Nothing stored for ${who}: nothing to revoke or remove.`)
        continue
      }
      const each = r.tokens.map(
        (t) =>
          `${t.token === 'refresh_token' ? 'refresh token' : 'access token'} ${WHAT[t.outcome]}${
            t.outcome === 'refused' && t.message ? ` (${t.message})` : ''
          }`,
      )
      ctx.note(
        `${r.revoked ? 'Logged out of' : 'Logout of'} ${who}: ${each.join('; ')}. ${r.removed ? 'Removed the tokens locally.' : ''}`.trim(),
      )
    }
  const outcomes = results.flatMap((r) => r.tokens.map((t) => t.outcome))
  if (outcomes.includes('unreachable')) return EXIT.unreachable
  if (outcomes.includes('refused')) return EXIT.error
  return EXIT.ok
}
