/** `keyfob status`: stored logins, who and until when; `--check` asks each provider. @module */
import type { KeyfobConfig, TokenKey, TokenStore } from '@keyfob/core'
import { clientOf, type LoginStatus, loginStatus } from '@keyfob/flows'
import { type Context, EXIT, exitCodeOf } from '../context.ts'
import { openStores, relative, withClientSecret } from '../options.ts'

/** The online check of one login (`status --check`): `active` is `null` when it could not be checked. */
interface Check {
  readonly active: boolean | null
  readonly via: 'userinfo' | 'introspection' | null
  readonly error: { readonly code: string; readonly message: string } | null
}

/**
 * Lists stored logins. Exit 3 when there is none usable (also with `--json`). With `--check`,
 * each login is checked online (renewed first when needed): exit 3 when a provider refuses a
 * login, 5 when one could not be asked.
 */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const { config, tokens } = openStores(ctx)
  const now = Date.now()
  const current = await config.read()
  const account = typeof values.account === 'string' ? values.account : undefined
  const entries = (await tokens.list()).filter(
    (e) => account === undefined || (e.key.account ?? 'default') === account,
  )
  const logins: Array<LoginStatus & { check?: Check }> = []
  for (const { key, record } of entries) {
    const status = loginStatus(key, record, current, now)
    logins.push(
      values.check === true ? { ...status, check: await check(ctx, values, current, tokens, key) } : status,
    )
  }
  if (ctx.globals.json) ctx.json({ store: tokens.kind, logins })
  else if (logins.length === 0) ctx.note('Not logged in anywhere. Run keyfob login.')
  else
    for (const l of logins) {
      const who = l.name ?? l.subject ?? 'unknown user'
      const at = l.accessToken
      const expiry = !at.present
        ? 'no access token'
        : at.expiresAt === null
          ? 'access token without expiry'
          : `access token ${at.valid ? 'expires' : 'expired'} ${relative(Date.parse(at.expiresAt) - now)}`
      const checked =
        l.check === undefined
          ? ''
          : l.check.active === true
            ? `\n  ${ctx.paint('checked online', 'green')}: the provider accepts the token (${l.check.via})`
            : l.check.active === false
              ? `\n  ${ctx.paint('checked online', 'red')}: the provider no longer accepts the token (${l.check.via}); run keyfob login`
              : `\n  ${ctx.paint('not checked', 'yellow')}: ${l.check.error?.message} [${l.check.error?.code}]`
      ctx.out(
        `${ctx.paint(l.providerIds.join(', ') || l.issuer, 'bold')}${l.account ? ` [${l.account}]` : ''}: ${who} via ${l.clientId}\n` +
          `  ${l.issuer}\n  ${expiry}; ${l.refreshToken.present ? 'refresh token stored' : 'no refresh token'}${l.dpop ? `; DPoP-bound (${l.dpop.alg})` : ''}${l.scope ? `; scope ${l.scope}` : ''}${checked}\n`,
      )
    }
  const checks = logins.flatMap((l) => (l.check ? [l.check] : []))
  if (checks.some((c) => c.active === false)) return EXIT.loginRequired
  // A login that could not be checked exits as its error would: 5 to retry later, else 1.
  const unchecked = checks.flatMap((c) => (c.active === null && c.error ? [exitCodeOf(c.error)] : []))
  if (unchecked.length > 0) return unchecked.includes(EXIT.unreachable) ? EXIT.unreachable : EXIT.error
  return logins.some((l) => l.usable) ? EXIT.ok : EXIT.loginRequired
}

/** Checks one login online through a session (renewing first when needed). */
async function check(
  ctx: Context,
  values: Record<string, unknown>,
  config: KeyfobConfig,
  tokens: TokenStore,
  key: TokenKey,
): Promise<Check> {
  const { Session } = await import('@keyfob/flows')
  const provider = Object.values(config.providers).find((p) => p.issuer === key.issuer)
  const session = new Session({
    issuer: key.issuer,
    client: withClientSecret(ctx, values, clientOf(provider, key.clientId)),
    store: tokens,
    ...(key.account ? { account: key.account } : {}),
    signal: ctx.signal,
    timeoutMs: 10_000,
  })
  try {
    const result = await session.check()
    return { active: result.active, via: result.via, error: null }
  } catch (error) {
    const code =
      typeof (error as { code?: unknown }).code === 'string'
        ? (error as { code: string }).code
        : 'ERR_NETWORK'
    const message = error instanceof Error ? error.message : String(error)
    // A login that cannot be renewed is one the provider no longer accepts.
    if (exitCodeOf(error) === EXIT.loginRequired)
      return { active: false, via: null, error: { code, message } }
    return { active: null, via: null, error: { code, message } }
  }
}
