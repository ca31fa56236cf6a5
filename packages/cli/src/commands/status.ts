/** `keyfob status`: stored logins, who and until when. @module */
import { loginStatus } from '@keyfob/flows'
import { type Context, EXIT } from '../context.ts'
import { openStores, relative } from '../options.ts'

/** Lists stored logins. Exit 3 when there is none usable (also with `--json`). */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const { config, tokens } = openStores(ctx)
  const now = Date.now()
  const current = await config.read()
  const account = typeof values.account === 'string' ? values.account : undefined
  const logins = (await tokens.list())
    .filter((e) => account === undefined || (e.key.account ?? 'default') === account)
    .map(({ key, record }) => loginStatus(key, record, current, now))
  const usable = logins.some((l) => l.usable)
  if (ctx.globals.json) ctx.json({ store: tokens.kind, logins })
  else if (logins.length === 0) ctx.note('Not logged in anywhere. Run keyfob login.')
  else
    for (const l of logins) {
      const who = l.name ?? l.subject ?? 'unknown user'
      const at = l.accessToken
      const expiry = !at.present
        ? 'no access token'
        : at.expiresAt === null
          ? 'access token without expiry'
          : `access token ${at.valid ? 'expires' : 'expired'} ${relative(Date.parse(at.expiresAt) - now)}`
      ctx.out(
        `${ctx.paint(l.providerIds.join(', ') || l.issuer, 'bold')}${l.account ? ` [${l.account}]` : ''}: ${who} via ${l.clientId}\n` +
          `  ${l.issuer}\n  ${expiry}; ${l.refreshToken.present ? 'refresh token stored' : 'no refresh token'}${l.scope ? `; scope ${l.scope}` : ''}\n`,
      )
    }
  return usable ? EXIT.ok : EXIT.loginRequired
}
