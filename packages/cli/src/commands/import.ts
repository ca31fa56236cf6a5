/** `keyfob import openeo`: take over the openEO client's configuration and refresh tokens. @module */
import { importOpenEo, openEoPaths } from '@keyfob/store'
import { type Context, EXIT, UsageError } from '../context.ts'
import { openStores } from '../options.ts'

/** Imports from another tool; only `openeo` exists. */
export async function run(
  ctx: Context,
  { values, positionals }: { values: Record<string, unknown>; positionals: string[] },
): Promise<number> {
  if (positionals[0] !== 'openeo' || positionals.length > 1)
    throw new UsageError(
      positionals.length
        ? `cannot import from ${JSON.stringify(positionals[0])}; only "openeo" is known`
        : 'missing what to import: keyfob import openeo',
    )
  const from =
    typeof values.from === 'string'
      ? { configDir: values.from, dataDir: values.from }
      : openEoPaths({ env: ctx.env })
  const { config, tokens } = openStores(ctx)
  const result = await importOpenEo({ config, tokens, from, overwrite: values.overwrite === true })
  if (ctx.globals.json) ctx.json(result)
  else {
    ctx.note(
      `Imported from ${[result.files.authConfig, result.files.refreshTokens].filter(Boolean).join(' and ')}:`,
    )
    ctx.note(
      `  ${result.providers.length} provider(s) (${result.providers.join(', ') || 'none'}), ${result.apis.length} API(s), ${result.tokens} refresh token(s)`,
    )
    for (const s of result.skipped) ctx.note(`  skipped: ${s}`)
  }
  return EXIT.ok
}
