/** `keyfob mock-idp`: the test identity provider, until Ctrl-C. @module */
import { readFile } from 'node:fs/promises'
import { type Context, EXIT, UsageError } from '../context.ts'

/** Runs `@keyfob/mock-idp` on a port with an optional JSON configuration. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  let options: Record<string, unknown> = {}
  if (typeof values.config === 'string') {
    let text: string
    try {
      text = await readFile(values.config, 'utf8')
    } catch {
      throw new UsageError(`cannot read --config ${values.config}`)
    }
    try {
      options = JSON.parse(text) as Record<string, unknown>
    } catch {
      throw new UsageError(`--config ${values.config} is not valid JSON`)
    }
  }
  const port =
    typeof values.port === 'string' ? Number(values.port) : ((options.port as number | undefined) ?? 9400)
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--port ${String(values.port)} is not a port number`)
  const { serve } = await import('@keyfob/mock-idp')
  const server = await serve({
    ...options,
    port,
    ...(typeof values.hostname === 'string' ? { hostname: values.hostname } : {}),
  } as Parameters<typeof serve>[0])
  if (ctx.globals.json)
    ctx.json({
      issuer: server.issuer,
      ...(server.controlToken !== undefined ? { controlToken: server.controlToken } : {}),
    })
  else {
    ctx.out(
      `Mock IdP listening at ${server.issuer} (discovery: ${server.issuer}/.well-known/openid-configuration). Ctrl-C stops it.\n`,
    )
    // serve() generates one when it binds beyond loopback: without it, /_control answers 401.
    if (server.controlToken !== undefined)
      ctx.out(`Control plane token (Authorization: Bearer …): ${server.controlToken}\n`)
  }
  await new Promise<void>((resolve) => {
    ctx.signal.addEventListener('abort', () => resolve(), { once: true })
    process.once('SIGTERM', () => resolve())
  })
  await server.close()
  return EXIT.ok
}
