/**
 * `keyfob token`: a valid access token on stdout, for scripts. A token with enough life left is
 * printed straight from the store; only a refresh loads the protocol code.
 *
 * @module
 */
import { type ClientEntry, normalizeApiUrl, type TokenRecord, TokenSet } from '@keyfob/core'
import { findLogin, openStores, secretOf, selectionOf, withSecret } from '../app.ts'
import { type Context, EXIT, parseDuration, UsageError } from '../context.ts'

const FORMATS = ['plain', 'openeo', 'json']

/** Prints the access token of the selected login, refreshing it first when needed. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const minTtlMs =
    typeof values['min-ttl'] === 'string' ? parseDuration(values['min-ttl'], 'min-ttl') : 60_000
  const format = typeof values.format === 'string' ? values.format : undefined
  if (format !== undefined && !FORMATS.includes(format))
    throw new UsageError(`--format ${JSON.stringify(format)} is not one of ${FORMATS.join(', ')}`)
  const openeo = values.openeo === true || format === 'openeo'
  const json = ctx.globals.json || format === 'json'
  const { config, tokens } = openStores(ctx)
  const current = await config.read()
  const selection = selectionOf(values)
  // An openEO API with Basic credentials and no provider: openEO's basic//<token>.
  const api = selection.api === undefined ? undefined : current.apis[normalizeApiUrl(selection.api)]
  if (api?.basic && !api.providers?.length && selection.providerId === undefined) {
    if (!openeo)
      throw new UsageError(
        `${normalizeApiUrl(selection.api as string)} has Basic credentials, which give an openEO bearer: add --openeo`,
      )
    const { openEoBasicLogin } = await import('@keyfob/flows')
    const { apiRoot, bearer } = await openEoBasicLogin(selection.api as string, {
      ...api.basic,
      signal: ctx.signal,
    })
    ctx.info(`Basic login of ${api.basic.username} at ${apiRoot}/credentials/basic`)
    if (json) ctx.json({ bearer, api: apiRoot, username: api.basic.username, providerId: null })
    else ctx.out(`${bearer}\n`)
    return EXIT.ok
  }
  const found = await findLogin(current, tokens, selection)
  ctx.info(`Login: provider ${found.providerId} (${found.key.issuer}), client ${found.key.clientId}`)
  // A secret kept out of the config (given to `login` through the environment) renews the same way.
  const login = { ...found, client: withSecret(found.client, secretOf(ctx, values)) }
  const stored = await tokens.get(login.key)
  let token: string
  let expiresAt: number | undefined
  if (stored && !TokenSet.fromRecord(stored).expiresWithin(Date.now(), minTtlMs)) {
    token = stored.accessToken as string
    expiresAt = stored.expiresAt
  } else {
    const { Session, clientCredentials } = await import('@keyfob/flows')
    const session = new Session({
      issuer: login.key.issuer,
      client: login.client,
      store: tokens,
      ...(login.key.account ? { account: login.key.account } : {}),
      refreshMarginMs: minTtlMs,
      signal: ctx.signal,
      // A client-credentials login has no user and no refresh token: renewing it is running the
      // grant again. A user's login never silently turns into the client's own identity.
      ...(isClientLogin(stored, login.client) ? { login: (options) => clientCredentials(options) } : {}),
    })
    token = await session.accessToken({ minTtlMs })
    expiresAt = (await tokens.get(login.key))?.expiresAt
  }
  // openEO's form, through the one code path that also authorizes a Session's requests.
  const bearer = openeo
    ? (await import('@keyfob/flows')).openEoBearer(login.providerId as string, token)
    : undefined
  if (json)
    ctx.json({
      accessToken: token,
      expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
      issuer: login.key.issuer,
      clientId: login.key.clientId,
      providerId: login.providerId ?? null,
      ...(bearer !== undefined ? { bearer } : {}),
    })
  else ctx.out(`${bearer ?? token}\n`)
  return EXIT.ok
}

/** A stored login that came from the client-credentials grant: a secret, no user, no refresh token. */
function isClientLogin(stored: TokenRecord | undefined, client: ClientEntry): boolean {
  return (
    stored !== undefined &&
    stored.refreshToken === undefined &&
    stored.idToken === undefined &&
    client.clientSecret !== undefined &&
    (client.grantTypes === undefined || client.grantTypes.includes('client_credentials'))
  )
}
