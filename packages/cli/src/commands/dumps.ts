/** `keyfob config-dump` and `keyfob token-dump`: redacted unless asked. @module */
import { redactConfig, redactRecord } from '@keyfob/core'
import { type Context, EXIT } from '../context.ts'
import { openStores } from '../options.ts'

interface Args {
  readonly values: Record<string, unknown>
}

function warnSecrets(ctx: Context, show: boolean): void {
  if (show) ctx.note('warning: the output contains secrets; do not paste it anywhere')
}

/** Prints the configuration; client secrets and Basic passwords as fingerprints. */
export async function configDump(ctx: Context, { values }: Args): Promise<number> {
  const { config } = openStores(ctx)
  const show = values['show-secrets'] === true
  const current = await config.read()
  warnSecrets(ctx, show)
  ctx.json(show ? current : await redactConfig(current))
  return EXIT.ok
}

/** Prints the stored tokens; every token as a fingerprint. */
export async function tokenDump(ctx: Context, { values }: Args): Promise<number> {
  const { tokens } = openStores(ctx)
  const show = values['show-secrets'] === true
  const entries = await tokens.list()
  warnSecrets(ctx, show)
  ctx.json({
    store: tokens.kind,
    tokens: await Promise.all(
      entries.map(async ({ key, record }) => ({
        issuer: key.issuer,
        clientId: key.clientId,
        account: key.account ?? null,
        record: show ? record : await redactRecord(record),
      })),
    ),
  })
  return EXIT.ok
}
