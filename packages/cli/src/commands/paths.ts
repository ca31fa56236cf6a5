/** `keyfob paths`: where configuration and tokens live. @module */

import { type Context, EXIT } from '../context.ts'
import { openStores } from '../options.ts'

/** Prints the directories and files keyfob uses (nothing is created). */
export async function run(ctx: Context): Promise<number> {
  const { paths, kind } = openStores(ctx)
  const info = {
    configDir: paths.configDir,
    configFile: paths.configFile,
    dataDir: paths.dataDir,
    tokensFile: paths.tokensFile,
    store: kind,
  }
  if (ctx.globals.json) ctx.json(info)
  else
    ctx.out(
      [
        `config: ${paths.configFile}`,
        `tokens: ${kind === 'keychain' ? `the OS keychain (locks in ${paths.dataDir})` : paths.tokensFile}${kind === 'auto' ? ' (or the OS keychain when usable)' : ''}`,
        '',
      ].join('\n'),
    )
  return EXIT.ok
}
