/** `keyfob token-clear`: forget tokens without revoking them. @module */
import { resolveLogin } from '@keyfob/flows'
import { type Context, EXIT } from '../context.ts'
import { openStores, selectionOf } from '../options.ts'

/** Removes the selected login's tokens (or all with `--all`). */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const { config, tokens } = openStores(ctx)
  const keys =
    values.all === true
      ? (await tokens.list()).map((e) => e.key)
      : [(await resolveLogin(await config.read(), tokens, selectionOf(values))).key]
  let removed = 0
  for (const key of keys) if (await tokens.lock(key, () => tokens.delete(key))) removed += 1
  if (ctx.globals.json) ctx.json({ removed })
  else
    ctx.note(
      removed === 0
        ? 'Nothing to remove.'
        : `Removed ${removed} stored login${removed === 1 ? '' : 's'} (not revoked: use keyfob logout for that).`,
    )
  return EXIT.ok
}
