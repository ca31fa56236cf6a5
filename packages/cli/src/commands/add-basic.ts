/** `keyfob add-basic <api-url>`: HTTP Basic credentials for an API. @module */
import { normalizeApiUrl } from '@keyfob/core'
import { type Context, EXIT, UsageError } from '../context.ts'
import { openStores } from '../options.ts'

/** Stores a user name and password for an API (the password from $KEYFOB_PASSWORD or a prompt). */
export async function run(
  ctx: Context,
  { values, positionals }: { values: Record<string, unknown>; positionals: string[] },
): Promise<number> {
  const [url, ...rest] = positionals
  if (url === undefined) throw new UsageError('missing <api-url>')
  if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`)
  const api = normalizeApiUrl(url)
  const username =
    typeof values.username === 'string'
      ? values.username
      : await ctx.prompt(`User name for ${api}: `, { flag: '--username' })
  if (username === '' || username.includes(':'))
    throw new UsageError('the user name must be non-empty and without ":"')
  const password =
    ctx.env.KEYFOB_PASSWORD ||
    (await ctx.prompt(`Password for ${username}: `, { flag: '$KEYFOB_PASSWORD', secret: true }))
  if (password === '') throw new UsageError('the password is empty')
  const { config } = openStores(ctx)
  await config.update((c) => ({
    ...c,
    apis: { ...c.apis, [api]: { ...c.apis[api], basic: { username, password } } },
  }))
  if (ctx.globals.json) ctx.json({ api, username })
  else ctx.note(`Saved Basic credentials of ${username} for ${api} in ${config.path}`)
  return EXIT.ok
}
