/**
 * `keyfob setup-git --host <host>`: makes git ask keyfob for the credentials of one host, as
 * `gh auth setup-git` does. It writes, with `git config --global` (so `$GIT_CONFIG_GLOBAL` is
 * honoured), first an empty `credential.<url>.helper` entry, which tells git to forget the helpers
 * inherited from other configuration files for that URL, then the `keyfob git-credential` entry
 * with the provider and account the host maps to.
 *
 * @module
 */
import { execFile } from 'node:child_process'
import { realpathSync } from 'node:fs'
import { resolveProvider } from '@keyfob/core'
import { type Context, EXIT, UsageError } from '../context.ts'
import { GitError, helperKey, parseOrigin, shellQuote } from '../git.ts'
import { openStores } from '../options.ts'

/** Writes the helper entry for `--host` and says what it wrote. */
export async function run(ctx: Context, { values }: { values: Record<string, unknown> }): Promise<number> {
  if (typeof values.host !== 'string')
    throw new UsageError('--host is required, e.g. keyfob setup-git --host git.example.org')
  const origin = parseOrigin(values.host)
  // The provider is resolved now and written by id, so adding a second provider later does not
  // change which one git's entry uses.
  const { config } = openStores(ctx)
  const { id } = resolveProvider(await config.read(), {
    ...(typeof values['provider-id'] === 'string' ? { providerId: values['provider-id'] } : {}),
  })
  const account = typeof values.account === 'string' ? values.account : undefined
  const username = typeof values.username === 'string' ? values.username : undefined
  const clientId = typeof values['client-id'] === 'string' ? values['client-id'] : undefined

  // The helper runs this very keyfob with this very Node, whatever git's PATH is.
  const words = [
    process.execPath,
    realpathSync(process.argv[1] ?? ''),
    'git-credential',
    '--host',
    origin.protocol === 'https' ? origin.host : `${origin.protocol}://${origin.host}`,
    '--provider-id',
    id,
    ...(clientId !== undefined ? ['--client-id', clientId] : []),
    ...(account !== undefined ? ['--account', account] : []),
    ...(username !== undefined ? ['--username', username] : []),
    // Directories and store named on this command line; the environment's are git's to pass on.
    ...(ctx.globals.configDir !== undefined ? ['--config-dir', ctx.globals.configDir] : []),
    ...(ctx.globals.dataDir !== undefined ? ['--data-dir', ctx.globals.dataDir] : []),
    ...(ctx.globals.store !== undefined ? ['--store', ctx.globals.store] : []),
  ]
  const helper = `!${words.map(shellQuote).join(' ')}`
  const key = helperKey(origin)
  await git(ctx, ['config', '--global', '--replace-all', key, ''])
  await git(ctx, ['config', '--global', '--add', key, helper])

  const url = `${origin.protocol}://${origin.host}`
  if (ctx.globals.json) ctx.json({ url, key, helper, providerId: id, account: account ?? null })
  else
    ctx.note(
      `git now asks keyfob for the credentials of ${url} (provider ${id}${account ? `, account ${account}` : ''}).\n` +
        `Written to git's global configuration: ${key} (undo: git config --global --unset-all ${key})`,
    )
  return EXIT.ok
}

/** Runs git with the command's environment; a missing git or a failure says so. */
function git(ctx: Context, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { env: ctx.env as NodeJS.ProcessEnv }, (error, _stdout, stderr) => {
      if (!error) return resolve()
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
      reject(
        new GitError(
          missing
            ? 'git was not found on PATH; install git, then run keyfob setup-git again'
            : `git ${args.slice(0, 3).join(' ')} failed: ${stderr.trim() || error.message}`,
          { cause: { args: args.slice(0, 4) } },
        ),
      )
    })
  })
}
