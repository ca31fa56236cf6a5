/**
 * `keyfob add-oidc <api-url|issuer>`: add a provider. The URL is tried as an OpenID issuer
 * (discovery), then as an openEO API (`/credentials/oidc`).
 *
 * @module
 */
import {
  discover,
  isProviderId,
  type KeyfobConfig,
  KeyfobError,
  normalizeApiUrl,
  type ProviderEntry,
  resourceProblem,
} from '@keyfob/core'
import {
  type AdvertisedProvider,
  discoverOpenEoApi,
  openEoProviderSource,
  withAdvertisedProviders,
} from '@keyfob/flows'
import { type Context, EXIT, UsageError } from '../context.ts'
import { openStores, secretOf } from '../options.ts'

/** Adds (or updates) a provider and its client in the configuration. */
export async function run(
  ctx: Context,
  { values, positionals }: { values: Record<string, unknown>; positionals: string[] },
): Promise<number> {
  const [target, ...rest] = positionals
  if (target === undefined) throw new UsageError('missing <api-url|issuer>')
  if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`)
  const url = normalizeApiUrl(target)
  const scopes = typeof values.scope === 'string' ? values.scope.split(/[\s,]+/).filter(Boolean) : undefined
  // DPoP, resource indicators and PAR: the provider's settings, for every later login.
  const resource = (values.resource as string[] | undefined) ?? []
  for (const r of resource) {
    const problem = resourceProblem(r)
    if (problem) throw new UsageError(`--resource ${problem}`)
  }
  const settings: Partial<ProviderEntry> = {
    ...(values.dpop === true ? { dpop: true } : {}),
    ...(resource.length ? { resource: resource.length === 1 ? (resource[0] as string) : resource } : {}),
    ...(values.par === true ? { par: true } : {}),
  }
  const { config } = openStores(ctx)

  // An issuer?
  let issuerError: unknown
  try {
    const as = await discover(url, { signal: ctx.signal, retries: 0, timeoutMs: 15_000 })
    const id = typeof values['provider-id'] === 'string' ? values['provider-id'] : new URL(as.issuer).hostname
    if (!isProviderId(id))
      throw new UsageError(
        `provider id ${JSON.stringify(id)} must be letters, digits, ".", "_" or "-"; pass --provider-id`,
      )
    const client = await askClient(ctx, values, false)
    const provider: ProviderEntry = {
      issuer: as.issuer,
      ...(scopes ? { scopes } : {}),
      ...(client ? { client } : {}),
      ...settings,
    }
    if (!client) throw new UsageError('an issuer has no default clients: pass --client-id')
    const next = await config.update((c) =>
      withDefault(
        { ...c, providers: { ...c.providers, [id]: { ...c.providers[id], ...provider } } },
        id,
        values,
      ),
    )
    return report(ctx, next, id, undefined, config.path)
  } catch (error) {
    if (error instanceof UsageError) throw error
    if (!(error instanceof KeyfobError) || error.code === 'ERR_ABORTED') throw error
    issuerError = error
  }

  // An openEO API? Its root is found as openEO's client finds it (/.well-known/openeo).
  let advertised: readonly AdvertisedProvider[]
  try {
    const root = await discoverOpenEoApi(url, { signal: ctx.signal })
    ctx.info(`${url}: API root ${root}`)
    advertised = await openEoProviderSource(root, {
      versionDiscovery: false,
      onWarning: (w) => ctx.note(`warning: ${w}`),
    }).providers({ signal: ctx.signal })
  } catch (error) {
    if ((error as KeyfobError).code === 'ERR_ABORTED') throw error
    const code =
      (issuerError as KeyfobError).code === 'ERR_NETWORK' && (error as KeyfobError).code === 'ERR_NETWORK'
        ? 'ERR_NETWORK'
        : 'ERR_DISCOVERY'
    throw new KeyfobError(
      code,
      `${url} is neither an OpenID provider (${(issuerError as Error).message}) nor an openEO API (${(error as Error).message})`,
      { cause: { url } },
    )
  }
  const ids = advertised.map((p) => p.id)
  let id = typeof values['provider-id'] === 'string' ? values['provider-id'] : undefined
  if (id !== undefined && !ids.includes(id))
    throw new UsageError(
      `${url} does not offer provider ${JSON.stringify(id)}; choose one of: ${ids.join(', ')}`,
    )
  if (id === undefined && ids.length === 1) id = ids[0]
  if (id === undefined) {
    if (!ctx.interactive)
      throw new UsageError(`${url} offers several providers; pass --provider-id, one of: ${ids.join(', ')}`)
    ctx.note(`${url} offers these providers:`)
    for (const [i, p] of advertised.entries())
      ctx.note(`  [${i + 1}] ${p.title ?? p.id} (${p.id}, issuer ${p.issuer})`)
    for (let attempt = 0; id === undefined; attempt++) {
      const answer = await ctx.prompt(`Choose one (1-${ids.length}): `, { flag: '--provider-id' })
      id = ids[Number(answer) - 1] ?? (ids.includes(answer) ? answer : undefined)
      if (id === undefined && attempt >= 4) throw new UsageError('no valid choice; pass --provider-id')
    }
  }
  const chosen = advertised.find((p) => p.id === id) as AdvertisedProvider
  const client = await askClient(ctx, values, Boolean(chosen.defaultClients?.length))
  const providerId = id
  const next = await config.update((c) => {
    const merged = withAdvertisedProviders(c, url, advertised, {
      onWarning: (w) => ctx.note(`warning: ${w}`),
    })
    const entry = merged.providers[providerId] as ProviderEntry
    return withDefault(
      {
        ...merged,
        providers: {
          ...merged.providers,
          [providerId]: {
            ...entry,
            ...(scopes ? { scopes } : {}),
            ...(client ? { client } : {}),
            ...settings,
          },
        },
        apis: { ...merged.apis, [url]: { ...merged.apis[url], defaultProvider: providerId } },
      },
      providerId,
      values,
    )
  })
  return report(ctx, next, providerId, url, config.path)
}

function withDefault(config: KeyfobConfig, id: string, values: Record<string, unknown>): KeyfobConfig {
  return values.default === true || Object.keys(config.providers).length === 1
    ? { ...config, defaultProvider: id }
    : config
}

/** The client from the flags, the environment or prompts; `undefined` means "the default clients". */
async function askClient(ctx: Context, values: Record<string, unknown>, hasDefaults: boolean) {
  if (values['use-default-client'] === true) {
    if (!hasDefaults)
      throw new UsageError(
        '--use-default-client: this provider advertises no default clients; pass --client-id',
      )
    return undefined
  }
  let clientId = typeof values['client-id'] === 'string' ? values['client-id'] : undefined
  if (clientId === undefined) {
    if (!ctx.interactive) {
      if (hasDefaults) return undefined
      throw new UsageError('--client-id is required (no terminal to ask on, and no default clients)')
    }
    clientId = await ctx.prompt(
      hasDefaults ? 'Client id (empty: use the default clients): ' : 'Client id: ',
      { flag: '--client-id' },
    )
    if (clientId === '') {
      if (hasDefaults) return undefined
      throw new UsageError('a client id is required')
    }
  }
  let secret = secretOf(ctx, values)
  if (secret === undefined && values['no-client-secret'] !== true && ctx.interactive)
    secret =
      (await ctx.prompt('Client secret (empty: a public client): ', {
        flag: '--client-secret',
        secret: true,
      })) || undefined
  return { clientId, ...(secret ? { clientSecret: secret } : {}) }
}

function report(
  ctx: Context,
  config: KeyfobConfig,
  id: string,
  api: string | undefined,
  path: string,
): number {
  const provider = config.providers[id] as ProviderEntry
  if (ctx.globals.json)
    ctx.json({
      providerId: id,
      issuer: provider.issuer,
      clientId: provider.client?.clientId ?? null,
      api: api ?? null,
      default: config.defaultProvider === id,
    })
  else {
    ctx.note(`Added provider ${id} (issuer ${provider.issuer})${api ? ` for ${api}` : ''} to ${path}.`)
    ctx.note(
      provider.client
        ? `Client: ${provider.client.clientId}${provider.client.clientSecret ? ' (with a secret)' : ''}.`
        : 'Client: the API’s default clients.',
    )
    ctx.note(`Next: keyfob login --provider-id ${id}`)
  }
  return EXIT.ok
}
