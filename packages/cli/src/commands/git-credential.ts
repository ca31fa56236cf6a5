/**
 * `keyfob git-credential <get|store|erase>`: a git credential helper. git runs it as the
 * `credential.<url>.helper` entry `keyfob setup-git` writes, with the request on stdin
 * (gitcredentials(7)). The entry itself holds the mapping from the host to a provider and account
 * (`--host`, `--provider-id`, `--account`), so the keyfob configuration needs no git section and
 * removing the entry removes the mapping.
 *
 * `get` answers with `username` and `password=<a valid access token>`, obtained exactly as
 * `keyfob token` obtains it (same module, same refresh). `store` and `erase` do nothing, as
 * `gh auth git-credential` does: the token is keyfob's to keep, so there is nothing for git to
 * store, and a server refusing one push (a missing permission, say) must not log the user out.
 *
 * @module
 */
import { Context, EXIT, UsageError } from '../context.ts'
import { formatCredential, parseCredential, parseOrigin } from '../git.ts'

/** The user name sent with the token unless `--username` says otherwise (GitLab and Gitea take it). */
export const DEFAULT_USERNAME = 'oauth2'

/** Answers git's `get` for the host of this entry; `store`, `erase` and the unknown: nothing. */
export async function run(
  ctx: Context,
  { values, positionals }: { values: Record<string, unknown>; positionals: string[] },
): Promise<number> {
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length === 0
        ? 'the operation is missing: git runs `keyfob git-credential get` (or store, erase)'
        : `unexpected argument ${JSON.stringify(positionals[1])}: git passes one operation (get, store or erase)`,
    )
  if (typeof values.host !== 'string')
    throw new UsageError(
      '--host is required: the helper answers for one host only; run `keyfob setup-git --host <host>` to write the entry',
    )
  const origin = parseOrigin(values.host)
  // Read in full whatever the operation, so git never writes into a pipe that has gone away.
  const wanted = parseCredential(await readInput(process.stdin))
  // git's documentation: a helper ignores operations it does not know (room for new ones); `store`
  // and `erase` are deliberately nothing (see the module comment).
  if (positionals[0] !== 'get') return EXIT.ok
  const username = typeof values.username === 'string' ? values.username : DEFAULT_USERNAME
  // Another host, another scheme or another user: no answer, so git asks its next helper or the user.
  if (
    wanted.protocol !== origin.protocol ||
    wanted.host?.toLowerCase() !== origin.host ||
    (wanted.username !== undefined && wanted.username !== '' && wanted.username !== username)
  )
    return EXIT.ok

  const { accessToken, expiresAt } = await tokenOf(ctx, values)
  ctx.out(
    formatCredential({
      protocol: origin.protocol,
      host: wanted.host,
      username,
      password: accessToken,
      // git ≥ 2.41 then never caches the token past its expiry in another helper; older gits ignore it.
      ...(expiresAt === null
        ? {}
        : { password_expiry_utc: String(Math.floor(Date.parse(expiresAt) / 1000)) }),
    }),
  )
  return EXIT.ok
}

/**
 * The access token `keyfob token --json` would print for the same flags: the token command runs
 * with its output captured, so the two can never disagree on which login, when to refresh or how.
 * Its notes and errors reach stderr, which git shows to the user.
 */
async function tokenOf(
  ctx: Context,
  values: Record<string, unknown>,
): Promise<{ accessToken: string; expiresAt: string | null }> {
  let printed = ''
  const inner = new Context(
    {
      env: ctx.env,
      stdout: { write: (text: string) => (printed += text) },
      stderr: { write: (text: string) => ctx.note(text.replace(/\n$/, '')) },
    },
    { ...ctx.globals, json: true },
  )
  const forwarded: Record<string, unknown> = {}
  for (const flag of ['provider-id', 'client-id', 'account', 'min-ttl'])
    if (typeof values[flag] === 'string') forwarded[flag] = values[flag]
  try {
    const { run } = await import('./token.ts')
    // Positionals are none: the token command's own checks see what `keyfob token` alone would.
    const args = { values: forwarded, positionals: [] as string[] }
    await run(inner, args)
  } finally {
    inner.dispose()
  }
  return JSON.parse(printed) as { accessToken: string; expiresAt: string | null }
}

/** Reads git's request: up to a blank line or the end of input. */
function readInput(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const done = () => {
      stream.off('data', onData)
      stream.off('end', done)
      stream.off('error', reject)
      stream.pause()
      resolve(text)
    }
    const onData = (chunk: Buffer | string) => {
      text += String(chunk)
      if (/(?:^|\n)\r?\n/.test(text)) done()
    }
    stream.on('data', onData)
    stream.once('end', done)
    stream.once('error', reject)
  })
}
