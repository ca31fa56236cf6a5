/**
 * `keyfob oidc-auth <api-url>`: openeo-auth's command, mapped onto `keyfob login --api`. An API
 * keyfob has no configuration for is set up from what it advertises (its providers and default
 * clients), as openeo-auth then falls back to the API's default provider and client.
 *
 * @module
 */
import { normalizeApiUrl } from '@keyfob/core'
import { type Context, UsageError } from '../context.ts'
import { openStores } from '../options.ts'

/** Logs in for an openEO API: the configured provider (or the one named), with `--flow`. */
export async function run(
  ctx: Context,
  { values, positionals }: { values: Record<string, unknown>; positionals: string[] },
): Promise<number> {
  const [backend, ...rest] = positionals
  if (backend === undefined) throw new UsageError('missing <api-url> (the openEO back-end)')
  if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`)
  const api = normalizeApiUrl(backend)
  const { config } = openStores(ctx)
  const current = await config.read()
  if (!current.apis[api]?.providers?.length) {
    const { discoverOpenEoApi, openEoProviderSource, withAdvertisedProviders } = await import('@keyfob/flows')
    const root = await discoverOpenEoApi(api, { signal: ctx.signal })
    ctx.info(`${api}: API root ${root}`)
    const advertised = await openEoProviderSource(root, {
      versionDiscovery: false,
      onWarning: (w) => ctx.note(`warning: ${w}`),
    }).providers({ signal: ctx.signal })
    const ids = advertised.map((p) => p.id)
    const wanted = typeof values['provider-id'] === 'string' ? values['provider-id'] : undefined
    if (wanted !== undefined && !ids.includes(wanted))
      throw new UsageError(
        `${api} does not offer provider ${JSON.stringify(wanted)}; choose one of: ${ids.join(', ')}`,
      )
    // openEO's rule: the one named, else the API's first provider.
    const chosen = wanted ?? (ids[0] as string)
    await config.update((c) => {
      const merged = withAdvertisedProviders(c, api, advertised, {
        onWarning: (w) => ctx.note(`warning: ${w}`),
      })
      return { ...merged, apis: { ...merged.apis, [api]: { ...merged.apis[api], defaultProvider: chosen } } }
    })
    if (!ctx.globals.json)
      ctx.note(
        `keyfob had no configuration for ${api}: added its providers (${ids.join(', ')}), using ${chosen} and its default clients.`,
      )
  }
  const login = await import('./login.ts')
  return login.run(ctx, {
    values: {
      ...values,
      api,
      // openeo-auth's --timeout is in seconds and 60 by default for auth-code.
      ...(values.timeout === undefined && values.flow === 'auth-code' ? { timeout: '60s' } : {}),
    },
  })
}
