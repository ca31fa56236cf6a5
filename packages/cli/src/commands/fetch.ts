/**
 * `keyfob fetch`: one API request through the login's `Session`, so it carries what the login
 * needs — `Bearer <token>`, or for a DPoP-bound login `DPoP <token>` with a fresh proof for this
 * method and URL (a bare DPoP-bound token is useless to curl). The token is renewed when needed
 * and once more when the API rejects it.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { resolveLogin, Session } from '@keyfob/flows'
import { type Context, EXIT, UsageError } from '../context.ts'
import { openStores, selectionOf, withClientSecret } from '../options.ts'

/** Sends the request and prints the answer's body (with `-i`, its status line and headers first). */
export async function run(
  ctx: Context,
  { values, positionals }: { values: Record<string, unknown>; positionals: string[] },
): Promise<number> {
  const [target] = positionals
  if (target === undefined) throw new UsageError('keyfob fetch needs the URL to request')
  if (!URL.canParse(target) || !/^https?:$/.test(new URL(target).protocol))
    throw new UsageError(`${JSON.stringify(target)} is not an http(s) URL`)
  const headers = new Headers()
  for (const line of (values.header as string[] | undefined) ?? []) {
    const at = line.indexOf(':')
    if (at <= 0) throw new UsageError(`-H ${JSON.stringify(line)} is not "name: value"`)
    const name = line.slice(0, at).trim()
    if (name.toLowerCase() === 'authorization' || name.toLowerCase() === 'dpop')
      throw new UsageError(`-H ${name}: keyfob fetch sets this header itself`)
    headers.append(name, line.slice(at + 1).trim())
  }
  const data = typeof values.data === 'string' ? values.data : undefined
  const body =
    data === undefined
      ? undefined
      : data === '@-'
        ? await ctx.readStdin('-d @-')
        : data.startsWith('@')
          ? readFileSync(data.slice(1), 'utf8')
          : data
  const method =
    typeof values.request === 'string' ? values.request.toUpperCase() : body !== undefined ? 'POST' : 'GET'

  const { config, tokens } = openStores(ctx)
  const current = await config.read()
  const found = await resolveLogin(current, tokens, selectionOf(values))
  const client = withClientSecret(ctx, values, found.client)
  const record = await tokens.get(found.key)
  const session = new Session({
    issuer: found.key.issuer,
    client,
    store: tokens,
    ...(found.key.account ? { account: found.key.account } : {}),
    ...(found.provider?.resource !== undefined ? { resource: found.provider.resource } : {}),
    // A client-credentials login renewed by running the grant again stays DPoP-bound.
    ...(record?.dpopKey !== undefined ? { dpop: { alg: record.dpopKey.alg } } : {}),
    apiOrigins: [new URL(target).origin],
    signal: ctx.signal,
  })
  ctx.info(
    `${method} ${target} as client ${found.key.clientId} of ${found.key.issuer}${record?.dpopKey ? ` with a DPoP proof (${record.dpopKey.alg})` : ''}`,
  )
  const response = await session.fetch(target, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    signal: ctx.signal,
  })
  if (values.include === true) {
    const lines = [`HTTP ${response.status} ${response.statusText}`.trimEnd()]
    for (const [name, value] of response.headers) lines.push(`${name}: ${value}`)
    ctx.out(`${lines.join('\n')}\n\n`)
  }
  ctx.out(await response.text())
  if (response.ok) return EXIT.ok
  ctx.note(
    `keyfob fetch: ${target} answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`,
  )
  return EXIT.error
}
