/** `keyfob import openeo`: take over the openEO client's configuration and refresh tokens. @module */
import type { ClientEntry } from '@keyfob/core'
import { importOpenEo, openEoSearchPaths } from '@keyfob/store'
import { type Context, EXIT, UsageError } from '../context.ts'
import { openStores } from '../options.ts'

/** Imports from another tool; only `openeo` exists. Reports per file what it imported and skipped. */
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
  const pick = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined)
  const from = pick('from')
  const configFrom = pick('config-from')
  const dataFrom = pick('data-from')
  const search = openEoSearchPaths(
    {
      ...(from !== undefined ? { from } : {}),
      ...(configFrom !== undefined ? { configFrom } : {}),
      ...(dataFrom !== undefined ? { dataFrom } : {}),
    },
    { env: ctx.env },
  )
  const { config, tokens } = openStores(ctx)
  // openEO's "default client" (client_id: null) is whatever the API advertises; ask it.
  const defaultClients = async (api: string, id: string): Promise<readonly ClientEntry[] | undefined> => {
    const { openEoProviderSource } = await import('@keyfob/flows')
    try {
      const providers = await openEoProviderSource(api, { timeoutMs: 10_000 }).providers({
        signal: ctx.signal,
      })
      return providers.find((p) => p.id === id)?.defaultClients
    } catch (error) {
      ctx.info(`${api}: ${(error as Error).message}`)
      return undefined
    }
  }
  const result = await importOpenEo({
    config,
    tokens,
    search,
    overwrite: values.overwrite === true,
    defaultClients,
  })
  if (ctx.globals.json) ctx.json(result)
  else
    for (const report of result.reports) {
      if (report.path === null) {
        ctx.note(`${report.file}: not found (looked in ${report.searched.join(', ')})`)
        continue
      }
      ctx.note(
        `${report.path}: imported ${report.imported.length}, skipped ${report.skipped.length}${report.imported.length + report.skipped.length ? ':' : ''}`,
      )
      for (const line of report.imported) ctx.note(`  imported: ${line}`)
      for (const line of report.skipped) ctx.note(`  skipped: ${line}`)
    }
  return EXIT.ok
}
