/** `keyfob login`: run a grant and store the tokens. @module */
import {
  type ClientEntry,
  discover,
  type Grant,
  KeyfobError,
  normalizeApiUrl,
  planScope,
  resolveClient,
  resolveProvider,
  type TokenRecord,
  type TokenSet,
} from '@keyfob/core'
import {
  accountOf,
  LOGIN_GRANTS,
  type LoginMethod,
  loginStatus,
  tokenKeyOf,
  unverifiedClaims,
} from '@keyfob/flows'
import { type Context, EXIT, parseDuration, UsageError } from '../context.ts'
import {
  openStores,
  relative,
  rememberLocation,
  type Stores,
  selectionOf,
  withClientSecret,
} from '../options.ts'

const METHODS = Object.keys(LOGIN_GRANTS) as LoginMethod[]

/** openeo-auth's `--flow` values (and keyfob's names), to the grant flags. */
const FLOWS: Readonly<Record<string, LoginMethod>> = {
  device: 'device',
  'auth-code': 'browser',
  browser: 'browser',
  'client-credentials': 'client-credentials',
  password: 'password',
}

/** Logs in at the selected provider and stores the tokens under its issuer, client and account. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const chosen: LoginMethod[] = METHODS.filter((g) => values[g] === true)
  if (typeof values.flow === 'string') {
    // openeo-auth's --flow device|auth-code.
    const flow = FLOWS[values.flow]
    if (flow === undefined)
      throw new UsageError(
        `--flow ${JSON.stringify(values.flow)} is not one of ${Object.keys(FLOWS).join(', ')}`,
      )
    if (!chosen.includes(flow)) chosen.push(flow)
  }
  if (chosen.length > 1) throw new UsageError(`choose one of --${chosen.join(', --')}`)
  const mode: LoginMethod = chosen[0] ?? 'device'
  const grant: Grant = LOGIN_GRANTS[mode]
  const selection = selectionOf(values)
  const timeoutMs = typeof values.timeout === 'string' ? parseDuration(values.timeout, 'timeout') : 300_000
  const portFlag = typeof values.port === 'string' ? portOf(values.port) : undefined

  const stores = openStores(ctx, 'login')
  const { config, tokens } = stores
  const current = await config.read()
  const { id, provider } = resolveProvider(current, {
    ...(selection.providerId !== undefined ? { providerId: selection.providerId } : {}),
    ...(selection.api !== undefined ? { apiUrl: normalizeApiUrl(selection.api) } : {}),
  })
  if (values['with-token'] === true) {
    if (chosen.length > 0) throw new UsageError(`--with-token cannot be combined with --${chosen[0]}`)
    return storeGivenToken(ctx, await ctx.readStdin('--with-token'), {
      issuer: provider.issuer,
      clientId: selection.clientId ?? provider.client?.clientId ?? 'token',
      account: accountOf(selection, current),
      stores,
    })
  }
  const explicit: ClientEntry | undefined =
    selection.clientId !== undefined ? { clientId: selection.clientId } : undefined
  const client = withClientSecret(ctx, values, resolveClient({ id, provider }, grant, explicit))
  if (grant === 'client_credentials' && client.clientSecret === undefined)
    throw new UsageError(
      '--client-credentials needs the client secret: set $KEYFOB_CLIENT_SECRET or pass --client-secret',
    )

  const port = portFlag ?? provider.redirectPort
  if (portFlag !== undefined && mode !== 'browser')
    throw new UsageError('--port is for the browser login: add --browser')
  const flows = await import('@keyfob/flows')
  const as = await discover(provider.issuer, { signal: ctx.signal })
  const extra = typeof values.scope === 'string' ? values.scope.split(/[\s,]+/).filter(Boolean) : []
  const { scope, notes } = planScope({
    configured: [...(provider.scopes ?? []), ...extra],
    ...(as.scopes_supported ? { supported: as.scopes_supported } : {}),
    refresh: grant !== 'client_credentials',
    openid: grant !== 'client_credentials',
  })
  for (const line of notes) ctx.debug(`scope: ${line}`)
  // DPoP, PAR and resource indicators: the flags, else the provider's settings.
  const resourceFlag = (values.resource as string[] | undefined) ?? []
  const resource = resourceFlag.length > 0 ? resourceFlag : provider.resource
  const dpop = values.dpop === true ? true : provider.dpop
  const par = values.par === true ? true : provider.par
  if (values.par === true && mode !== 'browser')
    throw new UsageError('--par is for the browser login: add --browser')
  const base = {
    metadata: as,
    client,
    signal: ctx.signal,
    ...(scope ? { scope } : {}),
    ...(dpop !== undefined ? { dpop } : {}),
    ...(resource !== undefined ? { resource } : {}),
  }
  if (!ctx.globals.json) ctx.note(`Logging in to ${id} (${provider.issuer}) as client ${client.clientId}.`)

  let tokensSet: TokenSet
  if (mode === 'device') {
    tokensSet = await flows.deviceLogin({
      ...base,
      maxPollMs: timeoutMs,
      ...(provider.authorizationParameters
        ? { authorizationParameters: provider.authorizationParameters }
        : {}),
      display: (info) => showDeviceCode(ctx, info, values['no-qr'] === true),
      sleep: (untilMs, signal) => countdown(ctx, untilMs, signal),
    })
    ctx.statusDone()
  } else if (mode === 'browser') {
    tokensSet = await flows.browserLogin({
      ...base,
      ...(provider.authorizationParameters
        ? { authorizationParameters: provider.authorizationParameters }
        : {}),
      loopback: { timeoutMs, ...(port !== undefined ? { port } : {}) },
      ...(par !== undefined ? { par } : {}),
      onUrl: (url) =>
        ctx.note(
          `Open this URL to log in${values['no-browser'] === true ? '' : ' (your browser should open it)'}:\n\n  ${url}\n`,
        ),
      ...(values['no-browser'] === true ? { openBrowser: async () => false } : {}),
    })
  } else if (mode === 'client-credentials') {
    tokensSet = await flows.clientCredentials(base)
  } else {
    const username =
      typeof values.username === 'string'
        ? values.username
        : await ctx.prompt('User name: ', { flag: '--username' })
    const password =
      ctx.env.KEYFOB_PASSWORD || (await ctx.prompt('Password: ', { flag: '$KEYFOB_PASSWORD', secret: true }))
    tokensSet = await flows.passwordLogin({ ...base, username, password })
  }

  const key = tokenKeyOf(provider.issuer, client.clientId, accountOf(selection, current))
  await tokens.lock(key, () => tokens.set(key, tokensSet.toRecord()))
  await rememberLocation(stores, key)
  const status = loginStatus(key, tokensSet.toRecord(), current, Date.now())
  if (ctx.globals.json) ctx.json(status)
  else {
    const who = status.name ?? status.subject
    const expiry = status.accessToken.expiresAt
      ? `; the access token expires ${relative(Date.parse(status.accessToken.expiresAt) - Date.now())}`
      : ''
    ctx.note(
      `${ctx.paint('Logged in', 'green')}${who ? ` as ${who}` : ''} at ${id}${expiry}${status.refreshToken.present ? '; refresh token stored' : ''}${tokensSet.record.dpopKey ? `; tokens bound to a DPoP key (${tokensSet.record.dpopKey.alg}), kept with them` : ''} (${tokens.kind} store).`,
    )
  }
  return EXIT.ok
}

async function showDeviceCode(
  ctx: Context,
  info: { userCode: string; verificationUri: string; verificationUriComplete?: string; expiresAtMs: number },
  noQr: boolean,
): Promise<void> {
  if (ctx.globals.json) {
    // Scripts get the code as one JSON line on stderr, keeping stdout for the result.
    ctx.note(
      JSON.stringify({
        event: 'user_code',
        userCode: info.userCode,
        verificationUri: info.verificationUri,
        verificationUriComplete: info.verificationUriComplete ?? null,
        expiresAt: new Date(info.expiresAtMs).toISOString(),
      }),
    )
    return
  }
  ctx.note('')
  ctx.note(
    `To log in, open ${ctx.paint(info.verificationUri, 'cyan')} and enter the code ${ctx.paint(info.userCode, 'bold')}`,
  )
  if (info.verificationUriComplete) {
    ctx.note(
      `or open ${ctx.paint(info.verificationUriComplete, 'cyan')}${noQr || !ctx.terminal ? '' : ', or scan:'}`,
    )
    // A QR code is for a person looking at a terminal, not for a CI log.
    if (!noQr && ctx.terminal) {
      const { renderUnicodeCompact } = await import('uqr')
      ctx.note(renderUnicodeCompact(info.verificationUriComplete, { border: 1 }))
    }
  }
  ctx.note('')
}

/** Sleeps until `untilMs`, showing the time left on a terminal; Ctrl-C ends it. */
function countdown(ctx: Context, untilMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
    let frame = 0
    const paint = () =>
      ctx.status(`${frames[frame++ % frames.length]} waiting for approval… (Ctrl-C to cancel)`)
    paint()
    const ticker = setInterval(paint, 250)
    const timer = setTimeout(done, Math.max(0, untilMs - Date.now()))
    function done() {
      clearInterval(ticker)
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }
    function onAbort() {
      clearInterval(ticker)
      clearTimeout(timer)
      ctx.statusDone()
      reject(new KeyfobError('ERR_ABORTED', 'login cancelled'))
    }
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** A TCP port from the command line. */
function portOf(text: string): number {
  const port = Number(text)
  if (!/^\d+$/.test(text) || port < 1 || port > 65_535)
    throw new UsageError(`--port ${JSON.stringify(text)} is not a port number (1–65535)`)
  return port
}

/**
 * `login --with-token`: stores a token obtained elsewhere (CI, a provider keyfob cannot log in
 * to) as the login's access token, with its expiry from the JWT's `exp` when it is a JWT. It has
 * no refresh token: once it expires, `keyfob token` says to log in again.
 */
async function storeGivenToken(
  ctx: Context,
  input: string,
  at: { issuer: string; clientId: string; account: string | undefined; stores: Stores },
): Promise<number> {
  const token = input.trim()
  if (token === '' || /\s/.test(token))
    throw new UsageError('--with-token reads one token from stdin: got nothing, or several words')
  const exp = unverifiedClaims(token)?.exp
  const now = Date.now()
  const record: TokenRecord = {
    accessToken: token,
    tokenType: 'bearer',
    ...(typeof exp === 'number' && Number.isFinite(exp) ? { expiresAt: exp * 1000 } : {}),
    updatedAt: now,
  }
  const key = tokenKeyOf(at.issuer, at.clientId, at.account)
  await at.stores.tokens.lock(key, () => at.stores.tokens.set(key, record))
  await rememberLocation(at.stores, key)
  const config = await at.stores.config.read()
  if (ctx.globals.json) ctx.json(loginStatus(key, record, config, now))
  else
    ctx.note(
      `Stored the token for ${at.issuer} (client ${at.clientId})${record.expiresAt ? `; it expires ${relative(record.expiresAt - now)}` : '; its expiry is unknown'}. It cannot be refreshed: pipe a new one in when it expires.`,
    )
  return EXIT.ok
}
