/** `keyfob login`: run a grant and store the tokens. @module */
import {
  type ClientEntry,
  discover,
  type Grant,
  KeyfobError,
  normalizeApiUrl,
  resolveClient,
  resolveProvider,
  scopeFor,
  type TokenSet,
} from '@keyfob/core'
import {
  accountOf,
  keyOf,
  openStores,
  relative,
  secretOf,
  selectionOf,
  statusOf,
  withSecret,
} from '../app.ts'
import { type Context, EXIT, parseDuration, UsageError } from '../context.ts'

const GRANTS = ['device', 'browser', 'client-credentials', 'password'] as const

/** openeo-auth's `--flow` values (and keyfob's names), to the grant flags. */
const FLOWS: Readonly<Record<string, (typeof GRANTS)[number]>> = {
  device: 'device',
  'auth-code': 'browser',
  browser: 'browser',
  'client-credentials': 'client-credentials',
  password: 'password',
}

/** Logs in at the selected provider and stores the tokens under its issuer, client and account. */
export async function run(
  ctx: Context,
  { values, positionals }: { values: Record<string, unknown>; positionals: string[] },
): Promise<number> {
  if (positionals.length)
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[0])}; name a provider with --provider-id or an API with --api`,
    )
  const chosen: string[] = GRANTS.filter((g) => values[g] === true)
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
  const mode = (chosen[0] ?? 'device') as (typeof GRANTS)[number]
  const grant: Grant =
    mode === 'device'
      ? 'device'
      : mode === 'browser'
        ? 'authorization_code'
        : mode === 'client-credentials'
          ? 'client_credentials'
          : 'password'
  const selection = selectionOf(values)
  const timeoutMs = typeof values.timeout === 'string' ? parseDuration(values.timeout, 'timeout') : 300_000

  const { config, tokens } = openStores(ctx)
  const current = await config.read()
  const { id, provider } = resolveProvider(current, {
    ...(selection.providerId !== undefined ? { providerId: selection.providerId } : {}),
    ...(selection.api !== undefined ? { apiUrl: normalizeApiUrl(selection.api) } : {}),
  })
  const secret = secretOf(ctx, values)
  const explicit: ClientEntry | undefined =
    selection.clientId !== undefined ? { clientId: selection.clientId } : undefined
  const client = withSecret(resolveClient({ id, provider }, grant, explicit), secret)
  if (grant === 'client_credentials' && client.clientSecret === undefined)
    throw new UsageError(
      '--client-credentials needs the client secret: set $KEYFOB_CLIENT_SECRET or pass --client-secret',
    )

  const flows = await import('@keyfob/flows')
  const as = await discover(provider.issuer, { signal: ctx.signal })
  const extra = typeof values.scope === 'string' ? values.scope.split(/[\s,]+/).filter(Boolean) : []
  const scope = scopeFor({
    configured: [...(provider.scopes ?? []), ...extra],
    ...(as.scopes_supported ? { supported: as.scopes_supported } : {}),
    refresh: grant !== 'client_credentials',
    openid: grant !== 'client_credentials',
  })
  const base = { metadata: as, client, signal: ctx.signal, ...(scope ? { scope } : {}) }
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
      loopback: { timeoutMs },
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

  const key = keyOf(provider.issuer, client.clientId, accountOf(selection, current))
  await tokens.lock(key, () => tokens.set(key, tokensSet.toRecord()))
  const status = statusOf(key, tokensSet.toRecord(), current, Date.now())
  if (ctx.globals.json) ctx.json(status)
  else {
    const who = status.name ?? status.subject
    const expiry = status.accessToken.expiresAt
      ? `; the access token expires ${relative(Date.parse(status.accessToken.expiresAt) - Date.now())}`
      : ''
    ctx.note(
      `${ctx.paint('Logged in', 'green')}${who ? ` as ${who}` : ''} at ${id}${expiry}${status.refreshToken.present ? '; refresh token stored' : ''} (${tokens.kind} store).`,
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
    ctx.note(`or open ${ctx.paint(info.verificationUriComplete, 'cyan')}${noQr ? '' : ', or scan:'}`)
    if (!noQr) {
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
