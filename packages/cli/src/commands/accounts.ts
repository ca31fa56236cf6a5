/** `keyfob accounts [use <name>]`: several accounts per provider. @module */

import type { TokenStore } from '@keyfob/core'
import { type Context, EXIT, UsageError } from '../context.ts'
import { openStores } from '../options.ts'

/** Lists the accounts that have stored logins, or makes one the default. */
export async function run(ctx: Context, { positionals }: { positionals: string[] }): Promise<number> {
  const { config, tokens } = openStores(ctx)
  if (positionals[0] === 'use') {
    const name = positionals[1]
    if (name === undefined) throw new UsageError('usage: keyfob accounts use <name> (or "default")')
    const known = await knownAccounts(tokens, (await config.read()).defaultAccount)
    if (!known.includes(name))
      throw new UsageError(
        `no account ${JSON.stringify(name)}; known accounts: ${known.join(', ')} (an account comes into being with keyfob login --account ${name})`,
      )
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
  const counts = await loginCounts(tokens)
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

/** How many stored logins each account has (`default` for the unlabelled one). */
async function loginCounts(tokens: TokenStore): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (const { key } of await tokens.list())
    counts.set(key.account ?? 'default', (counts.get(key.account ?? 'default') ?? 0) + 1)
  return counts
}

/** The accounts that exist: those with stored logins, the configured default, and `default`. */
async function knownAccounts(tokens: TokenStore, configured: string | undefined): Promise<string[]> {
  const names = new Set([
    'default',
    ...(configured ? [configured] : []),
    ...(await loginCounts(tokens)).keys(),
  ])
  return [...names].sort()
}
