/**
 * `keyfob token`: a valid access token on stdout, for scripts. `$KEYFOB_TOKEN` wins outright; a
 * stored token with enough life left is printed without a network call; otherwise the session
 * renews it (refresh token, or the client-credentials grant for a client's own login). `--openeo`
 * prints openEO's bearer form.
 *
 * @module
 */
import { normalizeApiUrl } from '@keyfob/core'
import {
  clientCredentials,
  openEoBearer,
  renewsByClientCredentials,
  resolveLogin,
  Session,
  unverifiedClaims,
} from '@keyfob/flows'
import { type Context, EXIT, parseDuration, UsageError } from '../context.ts'
import { openStores, relative, selectionOf, withClientSecret } from '../options.ts'

const FORMATS = ['plain', 'openeo', 'json']

/** Prints the access token of the selected login, refreshing it first when needed. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const format = typeof values.format === 'string' ? values.format : undefined
  if (format !== undefined && !FORMATS.includes(format))
    throw new UsageError(`--format ${JSON.stringify(format)} is not one of ${FORMATS.join(', ')}`)
  const openeo = values.openeo === true || format === 'openeo'
  const json = ctx.globals.json || format === 'json'
  // As GH_TOKEN for gh: a token handed in by CI is the answer, and nothing else is consulted.
  const given = ctx.env.KEYFOB_TOKEN
  if (given) {
    if (json) ctx.json({ accessToken: given, expiresAt: null, source: 'KEYFOB_TOKEN' })
    else ctx.out(`${given}\n`)
    return EXIT.ok
  }
  const minTtlMs =
    typeof values['min-ttl'] === 'string' ? parseDuration(values['min-ttl'], 'min-ttl') : 60_000
  // The default is the flows' own per-request default, named here so that -v can say it.
  const timeoutMs = typeof values.timeout === 'string' ? parseDuration(values.timeout, 'timeout') : 30_000
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
  const found = await resolveLogin(current, tokens, selection)
  ctx.info(`Login: provider ${found.providerId} (${found.key.issuer}), client ${found.key.clientId}`)
  ctx.info(`Requests to the provider give up after ${timeoutMs / 1000} s (--timeout)`)
  // A secret kept out of the config (given to `login` through the environment) renews the same way.
  const login = { ...found, client: withClientSecret(ctx, values, found.client) }
  const stored = await tokens.get(login.key)
  const session = new Session({
    issuer: login.key.issuer,
    client: login.client,
    store: tokens,
    ...(login.provider?.resource !== undefined ? { resource: login.provider.resource } : {}),
    // A client-credentials login renewed by running the grant again stays DPoP-bound.
    ...(stored?.dpopKey !== undefined ? { dpop: { alg: stored.dpopKey.alg } } : {}),
    ...(login.key.account ? { account: login.key.account } : {}),
    refreshMarginMs: minTtlMs,
    timeoutMs,
    signal: ctx.signal,
    // A client-credentials login has no user and no refresh token: renewing it is running the
    // grant again. A user's login never silently turns into the client's own identity.
    ...(renewsByClientCredentials(stored, login.client)
      ? { login: (options) => clientCredentials(options) }
      : {}),
  })
  const resource = typeof values.resource === 'string' ? values.resource : undefined
  const token = await session.accessToken({ minTtlMs, ...(resource !== undefined ? { resource } : {}) })
  const record = token === stored?.accessToken ? stored : await tokens.get(login.key)
  if (record?.dpopKey !== undefined)
    ctx.note(
      'note: this login is DPoP-bound: its access token works only with a DPoP proof made with the login’s key for each request (RFC 9449); make requests with `keyfob fetch [-X METHOD] [-d BODY] <url>`, which adds both',
    )
  // A token for another resource lives in the session, not in the stored record.
  const expiresAt = resource === undefined ? record?.expiresAt : unverifiedExp(token)
  if (
    resource === undefined &&
    expiresAt !== undefined &&
    expiresAt - Date.now() < minTtlMs &&
    record?.updatedAt !== undefined
  ) {
    // Renewed just now and still short: the provider's tokens are shorter than asked for.
    ctx.note(
      `note: the provider's access tokens last ${relative(expiresAt - record.updatedAt).replace(/^in /, '')}, less than --min-ttl ${values['min-ttl'] ?? '60s'}; every call renews the token`,
    )
  }
  // openEO's form, through the one code path that also authorizes a Session's requests.
  const bearer = openeo ? openEoBearer(login.providerId as string, token) : undefined
  if (json)
    ctx.json({
      accessToken: token,
      expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
      issuer: login.key.issuer,
      clientId: login.key.clientId,
      providerId: login.providerId ?? null,
      account: login.key.account ?? null,
      ...(bearer !== undefined ? { bearer } : {}),
    })
  else ctx.out(`${bearer ?? token}\n`)
  return EXIT.ok
}

/** A JWT's `exp` in epoch ms, for display only; `undefined` for an opaque token. */
function unverifiedExp(token: string): number | undefined {
  const exp = unverifiedClaims(token)?.exp
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined
}
