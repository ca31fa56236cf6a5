/** `keyfob accounts [use <name>]`: several accounts per provider. @module */
import { openStores } from '../app.ts'
import { type Context, EXIT, UsageError } from '../context.ts'

/** Lists the accounts that have stored logins, or makes one the default. */
export async function run(ctx: Context, { positionals }: { positionals: string[] }): Promise<number> {
  const { config, tokens } = openStores(ctx)
  if (positionals[0] === 'use') {
    const name = positionals[1]
    if (name === undefined || positionals.length > 2)
      throw new UsageError('usage: keyfob accounts use <name> (or "default")')
    const next = await config.update((c) => {
      const { defaultAccount: _, ...rest } = c
      return name === 'default' ? rest : { ...rest, defaultAccount: name }
    })
    if (ctx.globals.json) ctx.json({ defaultAccount: next.defaultAccount ?? null })
    else ctx.note(`Default account: ${next.defaultAccount ?? 'default'}`)
    return EXIT.ok
  }
  if (positionals.length)
    throw new UsageError(
      `unknown accounts subcommand ${JSON.stringify(positionals[0])}; did you mean \`keyfob accounts use\`?`,
    )
  const current = (await config.read()).defaultAccount ?? 'default'
  const counts = new Map<string, number>()
  for (const { key } of await tokens.list())
    counts.set(key.account ?? 'default', (counts.get(key.account ?? 'default') ?? 0) + 1)
  counts.set(current, counts.get(current) ?? 0)
  const accounts = [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, logins]) => ({ name, logins, default: name === current }))
  if (ctx.globals.json) ctx.json({ accounts })
  else
    for (const a of accounts)
      ctx.out(`${a.default ? '*' : ' '} ${a.name} (${a.logins} login${a.logins === 1 ? '' : 's'})\n`)
  return EXIT.ok
}
