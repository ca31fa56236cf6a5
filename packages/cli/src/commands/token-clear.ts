/** `keyfob token-clear`: forget tokens without revoking them. @module */
import { resolveLogin } from '@keyfob/flows'
import { type Context, EXIT } from '../context.ts'
import { forgetLocation, openStores, selectionOf } from '../options.ts'

/**
 * Removes the selected login's tokens (or all with `--all`). On a terminal it asks first, as
 * openeo-auth does, unless `-f`/`--force`; without one it never prompts.
 */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const stores = openStores(ctx)
  const { config, tokens } = stores
  const keys =
    values.all === true
      ? (await tokens.list()).map((e) => e.key)
      : [(await resolveLogin(await config.read(), tokens, selectionOf(values))).key]
  const present = []
  for (const key of keys) if ((await tokens.get(key)) !== undefined) present.push(key)
  if (present.length > 0 && values.force !== true && ctx.interactive && !ctx.globals.json) {
    ctx.note(`Stored login${present.length === 1 ? '' : 's'} to remove (${tokens.kind} store):`)
    for (const key of present)
      ctx.note(`  ${key.clientId} at ${key.issuer}${key.account ? ` (account ${key.account})` : ''}`)
    const answer = await ctx.prompt("Remove? 'y' or 'n': ", { flag: '--force' })
    if (!/^y/i.test(answer)) {
      ctx.note('Keeping the stored tokens.')
      return EXIT.ok
    }
  }
  let removed = 0
  // Every selected key, present or not: a delete also clears what a killed writer left behind.
  for (const key of keys) {
    if (await tokens.lock(key, () => tokens.delete(key))) removed += 1
    await forgetLocation(stores, key)
  }
  if (ctx.globals.json) ctx.json({ removed })
  else
    ctx.note(
      removed === 0
        ? 'Nothing to remove.'
        : `Removed ${removed} stored login${removed === 1 ? '' : 's'} (not revoked: use keyfob logout for that).`,
    )
  return EXIT.ok
}
