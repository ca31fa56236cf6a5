/** `keyfob add-basic <api-url>`: HTTP Basic credentials for an API. @module */
import { KeyfobError, normalizeApiUrl } from '@keyfob/core'
import { type Context, EXIT, UsageError } from '../context.ts'
import { openStores } from '../options.ts'

/**
 * Stores a user name and password for an API (the password from $KEYFOB_PASSWORD or a prompt),
 * after trying them at the API's `/credentials/basic` unless `--no-try`.
 */
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
  if (values['no-try'] !== true) {
    // As openeo-auth does: try them at the API's /credentials/basic before storing them.
    const { openEoBasicLogin } = await import('@keyfob/flows')
    ctx.info(`Trying the credentials of ${username} at ${api}`)
    try {
      const { apiRoot } = await openEoBasicLogin(api, { username, password, signal: ctx.signal })
      if (!ctx.globals.json) ctx.note(`${apiRoot}/credentials/basic accepted the credentials of ${username}.`)
    } catch (error) {
      if (error instanceof KeyfobError && error.code !== 'ERR_ABORTED')
        throw new KeyfobError(
          error.code,
          `${error.message}; nothing was stored (pass --no-try to store them without trying)`,
          { cause: error.cause },
        )
      throw error
    }
  }
  const { config } = openStores(ctx)
  await config.update((c) => ({
    ...c,
    apis: { ...c.apis, [api]: { ...c.apis[api], basic: { username, password } } },
  }))
  if (ctx.globals.json) ctx.json({ api, username })
  else ctx.note(`Saved Basic credentials of ${username} for ${api} in ${config.path}`)
  return EXIT.ok
}
