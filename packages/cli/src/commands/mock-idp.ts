/**
 * `keyfob mock-idp`: the test identity provider, until Ctrl-C. Without `--config` it runs with the
 * demo users and clients `npm start` uses (`@keyfob/mock-idp`'s `examples/demo.json`, the one
 * place they are written down), so `keyfob login` against it works at once.
 *
 * `@keyfob/mock-idp` (Hono, a node server, a bundled signing key) is an optional dependency of the
 * CLI: it is loaded here only, and its absence is a message saying how to install it.
 *
 * @module
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { KeyfobError } from '@keyfob/core'
import { type Context, EXIT, UsageError } from '../context.ts'

/** The parts of a mock IdP configuration the banner shows. */
interface Shown {
  readonly users?: ReadonlyArray<{
    readonly sub?: string
    readonly username?: string
    readonly password?: string
  }>
  readonly clients?: ReadonlyArray<{
    readonly clientId?: string
    readonly clientSecret?: string
    readonly grantTypes?: readonly string[]
  }>
}

/** Runs `@keyfob/mock-idp` on a port, with `--config` or the demo users and clients. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  const { serve, demoFile } = await loadMockIdp()
  const file = typeof values.config === 'string' ? values.config : demoFile
  let options: Record<string, unknown>
  try {
    options = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
  } catch (error) {
    const what = error instanceof SyntaxError ? 'is not valid JSON' : 'cannot be read'
    if (file === demoFile)
      throw new KeyfobError(
        'ERR_INVALID_CONFIG',
        `the demo configuration ${file} ${what}; reinstall @keyfob/mock-idp`,
      )
    throw new UsageError(`--config ${file} ${what}`)
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new UsageError(`--config ${file} must hold a JSON object`)
  const { $comment: _, ...serveOptions } = options
  const port =
    typeof values.port === 'string' ? Number(values.port) : ((options.port as number | undefined) ?? 9400)
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--port ${String(values.port)} is not a port number`)
  const server = await serve({
    ...serveOptions,
    port,
    ...(typeof values.hostname === 'string' ? { hostname: values.hostname } : {}),
  } as Parameters<typeof serve>[0])
  const shown = options as Shown
  const users = (shown.users ?? []).map((u) => ({
    sub: u.sub ?? u.username ?? '',
    password: u.password ?? null,
  }))
  const clients = (shown.clients ?? []).map((c) => ({
    clientId: c.clientId ?? '',
    clientSecret: c.clientSecret ?? null,
    grantTypes: c.grantTypes ?? null,
  }))
  if (ctx.globals.json)
    ctx.json({
      issuer: server.issuer,
      config: file === demoFile ? 'demo' : file,
      users,
      clients,
      ...(server.controlToken !== undefined ? { controlToken: server.controlToken } : {}),
    })
  else {
    ctx.out(banner(server.issuer, file === demoFile, users, clients))
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

/** What a person needs to use the running IdP: where it is, who can log in, which clients exist. */
function banner(
  issuer: string,
  demo: boolean,
  users: ReadonlyArray<{ sub: string; password: string | null }>,
  clients: ReadonlyArray<{
    clientId: string
    clientSecret: string | null
    grantTypes: readonly string[] | null
  }>,
): string {
  const width = Math.max(0, ...clients.map((c) => c.clientId.length))
  const cli = clients.find((c) => c.clientSecret === null)?.clientId
  const lines = [
    `Mock IdP listening at ${issuer} (discovery: ${issuer}/.well-known/openid-configuration). Ctrl-C stops it.`,
  ]
  if (demo) lines.push('Demo users and clients (test data only: never reuse these passwords and secrets):')
  const people = users.map((u) => `${u.sub} / ${u.password ?? '(no password)'}`)
  lines.push(`  users (name / password): ${people.join(', ') || '(none)'}`, '  clients:')
  for (const c of clients)
    lines.push(
      `    ${c.clientId.padEnd(width)}  ${c.clientSecret === null ? 'public' : `secret ${c.clientSecret}`}; ${c.grantTypes?.join(', ') ?? 'the default grants'}`,
    )
  if (clients.length === 0) lines.push('    (none)')
  if (cli)
    lines.push(
      'Try, in another terminal:',
      `  keyfob add-oidc ${issuer} --provider-id mock --client-id ${cli} --no-client-secret`,
      `  keyfob login        # approve the code at ${issuer}/device as one of the users above`,
    )
  return `${lines.join('\n')}\n`
}

/**
 * Imports `@keyfob/mock-idp` and finds its demo configuration, or says how to install it.
 *
 * @throws KeyfobError `ERR_UNSUPPORTED` when the package is not installed.
 */
async function loadMockIdp(): Promise<{ serve: typeof import('@keyfob/mock-idp').serve; demoFile: string }> {
  try {
    const packageJson = createRequire(import.meta.url).resolve('@keyfob/mock-idp/package.json')
    const { serve } = await import('@keyfob/mock-idp')
    return { serve, demoFile: join(dirname(packageJson), 'examples', 'demo.json') }
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error
    throw new KeyfobError(
      'ERR_UNSUPPORTED',
      'install @keyfob/mock-idp to run the mock IdP: it is an optional dependency of @keyfob/cli (npm install --global @keyfob/mock-idp, or npm install @keyfob/mock-idp next to @keyfob/cli)',
      {
        cause: { module: '@keyfob/mock-idp', error: error instanceof Error ? error.message : String(error) },
      },
    )
  }
}
