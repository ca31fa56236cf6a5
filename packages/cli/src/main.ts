/**
 * The `keyfob` command: argument parsing, dispatch and the mapping of errors to exit codes. Each
 * command lives in its own module, loaded only when it runs, so `keyfob token` loads little.
 *
 * @module
 */
import { parseArgs } from 'node:util'
import { type CliIo, Context, EXIT, type GlobalOptions, UsageError } from './context.ts'

/** A flag of a command, as `node:util` parseArgs takes it, plus its help line. */
export interface Flag {
  /** Whether the flag takes a value. */
  readonly type: 'string' | 'boolean'
  /** A one-letter alias (`-h`). */
  readonly short?: string
  /** Whether the flag may be repeated. */
  readonly multiple?: boolean
  /** The help line. */
  readonly help: string
  /** The value's name in the help (`--port <port>`). */
  readonly value?: string
}

/** One command: what it does, its flags and positionals, examples, and how to load it. */
export interface Command {
  /** One line for `keyfob --help`. */
  readonly summary: string
  /** The usage line of `keyfob <command> --help`. */
  readonly usage: string
  /** The command's own flags (the global ones are added). */
  readonly flags: Readonly<Record<string, Flag>>
  /**
   * The positional arguments it takes, by name, in order (none when omitted). A word beyond them
   * is a usage error naming it, never silently ignored.
   */
  readonly positionals?: readonly string[]
  /** Example command lines for the help. */
  readonly examples: readonly string[]
  /** Imports the command's module on first use, so `keyfob token` loads only what it needs. */
  readonly load: () => Promise<{
    run(ctx: Context, args: { values: Record<string, unknown>; positionals: string[] }): Promise<number>
  }>
}

const JSON_FLAG: Flag = { type: 'boolean', help: 'print JSON (a stable shape, see the README)' }
const ACCOUNT: Flag = {
  type: 'string',
  help: 'the local account label (several accounts per provider)',
  value: 'name',
}
const PROVIDER: Flag = { type: 'string', help: 'the provider id in the configuration', value: 'id' }
const CLIENT: Flag = { type: 'string', help: 'the OAuth client id', value: 'id' }
const API: Flag = { type: 'string', help: 'choose among the providers of this API', value: 'url' }
const SHOW_SECRETS: Flag = { type: 'boolean', help: 'show secrets instead of fingerprints' }

/** Flags every command takes. */
const GLOBAL: Readonly<Record<string, Flag>> = {
  store: { type: 'string', help: 'where tokens live: file (default), keychain or auto', value: 'kind' },
  'config-dir': { type: 'string', help: 'configuration directory (or $KEYFOB_CONFIG_DIR)', value: 'dir' },
  'data-dir': { type: 'string', help: 'token directory (or $KEYFOB_DATA_DIR)', value: 'dir' },
  debug: { type: 'boolean', help: 'print stack traces and causes of errors' },
  verbose: {
    type: 'boolean',
    short: 'v',
    multiple: true,
    help: 'say which files, URLs and logins are used (-vv: as --debug); openeo-auth’s -v',
  },
  help: { type: 'boolean', short: 'h', help: 'show help' },
}

/**
 * Other names of commands: openeo-auth's aliases (`config` for `config-dump`, `tokens` for
 * `token-dump`).
 *
 * @example
 * ```ts
 * import { ALIASES } from '@keyfob/cli'
 * ALIASES.tokens // 'token-dump'
 * ```
 */
export const ALIASES: Readonly<Record<string, string>> = { config: 'config-dump', tokens: 'token-dump' }

const FLOW: Flag = {
  type: 'string',
  help: 'device (default) or auth-code (browser), as openeo-auth’s --flow',
  value: 'flow',
}

/** Every command, in the order `keyfob --help` lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  login: {
    summary: 'log in and store the tokens (device flow by default)',
    usage: 'keyfob login [--device|--browser|--client-credentials|--password] [options]',
    flags: {
      device: { type: 'boolean', help: 'device authorization (default): a code to enter on any device' },
      browser: { type: 'boolean', help: 'authorization code + PKCE through this machine’s browser' },
      'client-credentials': { type: 'boolean', help: 'the client’s own credentials (services, CI)' },
      password: { type: 'boolean', help: 'resource-owner password (legacy providers only)' },
      'with-token': {
        type: 'boolean',
        help: 'store an access token read from stdin (CI; providers keyfob cannot log in to)',
      },
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      'client-secret': {
        type: 'string',
        help: 'the client secret (prefer $KEYFOB_CLIENT_SECRET)',
        value: 'secret',
      },
      username: { type: 'string', help: 'user name for --password', value: 'name' },
      scope: { type: 'string', help: 'extra scopes, space or comma separated', value: 'scopes' },
      api: API,
      account: ACCOUNT,
      'no-browser': { type: 'boolean', help: 'with --browser: print the URL, do not open it' },
      port: {
        type: 'string',
        help: 'with --browser: the loopback redirect port, for providers that register exact redirect URIs (default: the provider’s redirectPort, else a free one)',
        value: 'port',
      },
      'no-qr': { type: 'boolean', help: 'with --device: no QR code' },
      flow: FLOW,
      timeout: { type: 'string', help: 'give up after this long (default 300s)', value: 'duration' },
      dpop: {
        type: 'boolean',
        help: 'DPoP-bound tokens (RFC 9449): a key pair for this login, kept with its tokens (default: the provider’s dpop setting)',
      },
      resource: {
        type: 'string',
        multiple: true,
        help: 'an API the tokens are for (RFC 8707 resource indicator; repeatable; the first one is the access token’s)',
        value: 'uri',
      },
      par: {
        type: 'boolean',
        help: 'with --browser: push the authorization request (RFC 9126; default: when the provider requires it)',
      },
      json: JSON_FLAG,
    },
    examples: [
      'keyfob login',
      'keyfob login --browser --dpop --resource https://api.example/',
      'keyfob login --api https://openeo.example --flow auth-code',
      'keyfob login --browser --provider-id egi',
      'KEYFOB_CLIENT_SECRET=… keyfob login --client-credentials --client-id svc',
      'printenv CI_TOKEN | keyfob login --with-token --provider-id egi',
    ],
    load: () => import('./commands/login.ts'),
  },
  token: {
    summary: 'print a valid access token, refreshing when needed',
    usage: 'keyfob token [--min-ttl 60s] [--provider-id id] [--api url] [--account name] [--openeo]',
    flags: {
      'min-ttl': { type: 'string', help: 'minimum remaining lifetime (default 60s)', value: 'duration' },
      timeout: {
        type: 'string',
        help: 'give up on a request to the provider after this long (default 30s)',
        value: 'duration',
      },
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      api: API,
      account: ACCOUNT,
      openeo: {
        type: 'boolean',
        help: 'openEO’s bearer: oidc/<provider id>/<token> (basic//<token> for Basic credentials)',
      },
      format: { type: 'string', help: 'plain (default), openeo or json', value: 'format' },
      resource: {
        type: 'string',
        help: 'a token for this API (RFC 8707; minted by a refresh that names it)',
        value: 'uri',
      },
      json: JSON_FLAG,
    },
    examples: [
      'curl -H "Authorization: Bearer $(keyfob token)" https://api.example/me',
      'curl -H "Authorization: Bearer $(keyfob token --openeo --api https://openeo.example)" https://openeo.example/openeo/1.2/me',
      'keyfob token --min-ttl 5m',
    ],
    load: () => import('./commands/token.ts'),
  },
  fetch: {
    summary: 'make an API request with the login’s token (and a DPoP proof for a DPoP-bound login)',
    usage: 'keyfob fetch [-X METHOD] [-H "name: value"]… [-d BODY] [-i] <url>',
    positionals: ['url'],
    flags: {
      request: {
        type: 'string',
        short: 'X',
        help: 'the method (default GET, or POST with -d)',
        value: 'method',
      },
      header: {
        type: 'string',
        short: 'H',
        multiple: true,
        help: 'a request header (repeatable)',
        value: 'header',
      },
      data: {
        type: 'string',
        short: 'd',
        help: 'the request body; @file reads a file, @- standard input',
        value: 'body',
      },
      include: { type: 'boolean', short: 'i', help: 'print the status line and headers before the body' },
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      api: API,
      account: ACCOUNT,
    },
    examples: [
      'keyfob fetch https://api.example/me',
      'keyfob fetch -X POST -H "content-type: application/json" -d \'{"n":1}\' https://api.example/jobs',
    ],
    load: () => import('./commands/fetch.ts'),
  },
  status: {
    summary: 'show stored logins: who, where, until when',
    usage: 'keyfob status [--check] [--json]',
    flags: {
      check: { type: 'boolean', help: 'ask each provider whether it still accepts the login' },
      'client-secret': {
        type: 'string',
        help: 'the client secret for --check (prefer $KEYFOB_CLIENT_SECRET)',
        value: 'secret',
      },
      json: JSON_FLAG,
      account: ACCOUNT,
    },
    examples: [
      'keyfob status',
      'keyfob status --check',
      'keyfob status --json | jq ".logins[0].accessToken.expiresAt"',
    ],
    load: () => import('./commands/status.ts'),
  },
  logout: {
    summary: 'revoke the tokens at the provider and remove them',
    usage: 'keyfob logout [--provider-id id] [--account name] [--all]',
    flags: {
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      api: API,
      account: ACCOUNT,
      all: { type: 'boolean', help: 'every stored login' },
      json: JSON_FLAG,
    },
    examples: ['keyfob logout', 'keyfob logout --all'],
    load: () => import('./commands/logout.ts'),
  },
  'oidc-auth': {
    summary: 'openeo-auth’s oidc-auth: log in for an openEO API (login --api)',
    usage: 'keyfob oidc-auth <api-url> [--provider-id id] [--flow device|auth-code] [--timeout N]',
    positionals: ['api-url'],
    flags: {
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      flow: FLOW,
      timeout: {
        type: 'string',
        help: 'give up after this long (seconds, or 5m; default 60s for auth-code, 300s for device)',
        value: 'duration',
      },
      account: ACCOUNT,
      'no-browser': { type: 'boolean', help: 'with auth-code: print the URL, do not open it' },
      'no-qr': { type: 'boolean', help: 'with device: no QR code' },
      json: JSON_FLAG,
    },
    examples: [
      'keyfob oidc-auth https://openeo.example',
      'keyfob oidc-auth https://openeo.example --provider-id egi --flow auth-code --timeout 120',
    ],
    load: () => import('./commands/oidc-auth.ts'),
  },
  'add-oidc': {
    summary: 'add an OpenID provider, from its issuer or from an openEO API',
    usage: 'keyfob add-oidc <api-url|issuer> [--provider-id id] [--client-id id] [--client-secret s]',
    positionals: ['api-url|issuer'],
    flags: {
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      'client-secret': {
        type: 'string',
        help: 'the client secret (prefer $KEYFOB_CLIENT_SECRET)',
        value: 'secret',
      },
      'no-client-secret': { type: 'boolean', help: 'a public client: do not ask for a secret' },
      'use-default-client': { type: 'boolean', help: 'use the API’s default clients, do not ask for one' },
      scope: { type: 'string', help: 'extra scopes to ask for, space or comma separated', value: 'scopes' },
      default: { type: 'boolean', help: 'make it the default provider' },
      dpop: { type: 'boolean', help: 'DPoP-bound logins at this provider (RFC 9449): its dpop setting' },
      resource: {
        type: 'string',
        multiple: true,
        help: 'an API its tokens are for (RFC 8707; repeatable): its resource setting',
        value: 'uri',
      },
      par: { type: 'boolean', help: 'always push browser logins’ requests (RFC 9126): its par setting' },
      json: JSON_FLAG,
    },
    examples: [
      'keyfob add-oidc https://openeo.example/openeo/1.2',
      'keyfob add-oidc https://idp.example --client-id cli --no-client-secret --dpop --resource https://api.example/',
      'keyfob add-oidc https://idp.example/realms/x --provider-id x --client-id cli --no-client-secret',
    ],
    load: () => import('./commands/add-oidc.ts'),
  },
  'add-basic': {
    summary: 'store HTTP Basic credentials for an API, after trying them',
    usage:
      'keyfob add-basic <api-url> [--username name] [--no-try] (password from $KEYFOB_PASSWORD or a prompt)',
    positionals: ['api-url'],
    flags: {
      username: { type: 'string', help: 'the user name', value: 'name' },
      'no-try': {
        type: 'boolean',
        help: 'store without trying them at the API’s /credentials/basic first',
      },
      json: JSON_FLAG,
    },
    examples: [
      'KEYFOB_PASSWORD=… keyfob add-basic https://openeo.example --username alice',
      'KEYFOB_PASSWORD=… keyfob add-basic https://openeo.example --username alice --no-try',
    ],
    load: () => import('./commands/add-basic.ts'),
  },
  accounts: {
    summary: 'list accounts, or choose the default one',
    usage: 'keyfob accounts [use <name>]',
    positionals: ['use', 'name'],
    flags: { json: JSON_FLAG },
    examples: ['keyfob accounts', 'keyfob accounts use work'],
    load: () => import('./commands/accounts.ts'),
  },
  paths: {
    summary: 'show where configuration and tokens live',
    usage: 'keyfob paths [--json]',
    flags: { json: JSON_FLAG },
    examples: ['keyfob paths'],
    load: () => import('./commands/paths.ts'),
  },
  'config-dump': {
    summary: 'print the configuration (secrets as fingerprints)',
    usage: 'keyfob config-dump [--show-secrets]',
    flags: { 'show-secrets': SHOW_SECRETS, json: JSON_FLAG },
    examples: ['keyfob config-dump'],
    load: () => import('./commands/dumps.ts').then((m) => ({ run: m.configDump })),
  },
  'token-dump': {
    summary: 'print the stored tokens (as fingerprints)',
    usage: 'keyfob token-dump [--show-secrets]',
    flags: { 'show-secrets': SHOW_SECRETS, json: JSON_FLAG },
    examples: ['keyfob token-dump'],
    load: () => import('./commands/dumps.ts').then((m) => ({ run: m.tokenDump })),
  },
  'token-clear': {
    summary: 'remove stored tokens without revoking them (asks first on a terminal)',
    usage: 'keyfob token-clear [--provider-id id] [--account name] [--all] [-f|--force]',
    flags: {
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      account: ACCOUNT,
      all: { type: 'boolean', help: 'every stored token' },
      force: { type: 'boolean', short: 'f', help: 'do not ask for confirmation on a terminal' },
      json: JSON_FLAG,
    },
    examples: ['keyfob token-clear --all', 'keyfob token-clear --all --force'],
    load: () => import('./commands/token-clear.ts'),
  },
  import: {
    summary: 'import another tool’s configuration and tokens (openeo)',
    usage: 'keyfob import openeo [--from dir | --config-from dir --data-from dir] [--overwrite]',
    positionals: ['tool'],
    flags: {
      from: {
        type: 'string',
        help: 'a directory to search first for both files (openEO’s config or data dir)',
        value: 'dir',
      },
      'config-from': { type: 'string', help: 'the directory of openEO’s auth-config.json', value: 'dir' },
      'data-from': { type: 'string', help: 'the directory of openEO’s refresh-tokens.json', value: 'dir' },
      overwrite: {
        type: 'boolean',
        help: 'replace Basic credentials, clients and refresh tokens keyfob already has',
      },
      json: JSON_FLAG,
    },
    examples: [
      'keyfob import openeo',
      'keyfob import openeo --from ~/.config/openeo-python-client',
      'keyfob import openeo --config-from /mnt/old/config --data-from /mnt/old/data --overwrite',
    ],
    load: () => import('./commands/import.ts'),
  },
  'mock-idp': {
    summary: 'run the mock OpenID provider for tests',
    usage: 'keyfob mock-idp [--port 9400] [--config file.json]',
    flags: {
      port: { type: 'string', short: 'p', help: 'port (0 = any free one; default 9400)', value: 'port' },
      hostname: { type: 'string', help: 'address to bind (default 127.0.0.1)', value: 'addr' },
      config: {
        type: 'string',
        short: 'c',
        help: 'JSON file with users, clients and options',
        value: 'file',
      },
      json: { type: 'boolean', help: 'print the issuer as JSON once listening' },
    },
    examples: ['keyfob mock-idp --port 9400', 'keyfob mock-idp --config demo.json'],
    load: () => import('./commands/mock-idp.ts'),
  },
  'setup-git': {
    summary: 'make git ask keyfob for a host’s credentials (like gh auth setup-git)',
    usage: 'keyfob setup-git --host <host> [--provider-id id] [--account name] [--username name]',
    flags: {
      host: {
        type: 'string',
        help: 'the git host (https), or http://127.0.0.1:<port> on this machine',
        value: 'host',
      },
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      account: ACCOUNT,
      username: { type: 'string', help: 'the user name git sends (default oauth2)', value: 'name' },
      json: JSON_FLAG,
    },
    examples: [
      'keyfob setup-git --host git.example.org --provider-id egi',
      'GIT_CONFIG_GLOBAL=/tmp/gitconfig keyfob setup-git --host http://127.0.0.1:8080',
    ],
    load: () => import('./commands/setup-git.ts'),
  },
  'git-credential': {
    summary: 'the git credential helper that setup-git installs (get, store, erase)',
    usage: 'keyfob git-credential --host <host> [--provider-id id] [--account name] <get|store|erase>',
    positionals: ['operation'],
    flags: {
      host: { type: 'string', help: 'the only host to answer for; others get no answer', value: 'host' },
      'provider-id': PROVIDER,
      'client-id': CLIENT,
      account: ACCOUNT,
      username: { type: 'string', help: 'the user name to answer with (default oauth2)', value: 'name' },
      'min-ttl': { type: 'string', help: 'minimum remaining lifetime (default 60s)', value: 'duration' },
    },
    examples: [
      'printf "protocol=https\\nhost=git.example.org\\n" | keyfob git-credential --host git.example.org get',
    ],
    load: () => import('./commands/git-credential.ts'),
  },
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length] as number
}

/**
 * The closest of `candidates` to `input`, when it is close enough to be a typo.
 *
 * @param input - What was typed.
 * @param candidates - What exists.
 * @returns The suggestion, or `undefined`.
 * @internal
 */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const d = candidate.startsWith(input) && input.length >= 3 ? 1 : distance(input, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? best : undefined
}

function flagLines(flags: Readonly<Record<string, Flag>>): string[] {
  return Object.entries(flags).map(([name, flag]) => {
    const left = `${flag.short ? `-${flag.short}, ` : '    '}--${name}${flag.value ? ` <${flag.value}>` : ''}`
    return `  ${left.padEnd(34)} ${flag.help}`
  })
}

/** The help of one command. */
function commandHelp(name: string, command: Command): string {
  return [
    `${command.usage}`,
    '',
    `${command.summary[0]?.toUpperCase()}${command.summary.slice(1)}.`,
    '',
    'Options:',
    ...flagLines(command.flags),
    '',
    'Global options:',
    ...flagLines(GLOBAL),
    '',
    'Examples:',
    ...command.examples.map((e) => `  ${e}`),
    '',
    `Exit codes: see \`keyfob --help\`. More: https://keyfob.dev/cli#${name}`,
    '',
  ].join('\n')
}

/** The top-level help. */
function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length))
  return [
    'Usage: keyfob <command> [options]',
    '',
    'Log in to OAuth 2.0 / OpenID Connect providers, keep the tokens safe, print a valid access token.',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => {
      const alias = Object.keys(ALIASES).find((a) => ALIASES[a] === name)
      return `  ${name.padEnd(width)}  ${c.summary}${alias ? ` (alias: ${alias})` : ''}`
    }),
    '',
    'Global options:',
    ...flagLines(GLOBAL),
    '      --version                      show the version',
    '',
    'Exit codes:',
    `  ${EXIT.ok}    success`,
    `  ${EXIT.error}    an error (the message says what to do)`,
    `  ${EXIT.usage}    a usage error: unknown command or flag, missing argument`,
    `  ${EXIT.loginRequired}    no valid login: run \`keyfob login\``,
    `  ${EXIT.storage}    the token or config store is unusable (permissions, keychain, lock)`,
    `  ${EXIT.unreachable}    the provider or API is unavailable or failing right now: retry later`,
    `  ${EXIT.cancelled}  cancelled (Ctrl-C)`,
    '',
    'Environment: KEYFOB_CONFIG_DIR, KEYFOB_DATA_DIR, KEYFOB_STORE, KEYFOB_CLIENT_SECRET, KEYFOB_PASSWORD, NO_COLOR;',
    '  KEYFOB_TOKEN: `keyfob token` prints it and consults nothing else (for CI).',
    'Run `keyfob <command> --help` for a command’s options and examples.',
    '',
  ].join('\n')
}

type ParseConfig = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>

function parseConfigOf(flags: Readonly<Record<string, Flag>>): ParseConfig {
  const config: ParseConfig = {}
  for (const [name, flag] of Object.entries({ ...GLOBAL, ...flags })) {
    config[name] = {
      type: flag.type,
      ...(flag.short ? { short: flag.short } : {}),
      ...(flag.multiple ? { multiple: true } : {}),
    }
  }
  return config
}

/** Turns parseArgs' complaint about a flag into a usage error with a suggestion. */
function flagError(error: unknown, flags: readonly string[]): UsageError {
  const message = error instanceof Error ? error.message : String(error)
  const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(message)
  if (unknown) {
    const suggestion = closest(unknown[2] ?? '', flags)
    return new UsageError(
      `unknown option ${unknown[1]}${unknown[2]}${suggestion ? `; did you mean --${suggestion}?` : ''}`,
    )
  }
  return new UsageError(message.replace(/\. To specify.*$/s, '').replace(/^Option/, 'option'))
}

/** The message for a positional argument a command does not take, with the likely intent. */
function unexpectedArgument(name: string, command: Command, word: string, argv: readonly string[]): string {
  const takes = command.positionals?.length
    ? `keyfob ${name} takes ${command.positionals.map((p) => `<${p}>`).join(' ')} only`
    : `keyfob ${name} takes no arguments`
  // `--min-ttl 5 minutes` or `--min-ttl=5 minutes`: the word probably belongs to a flag's value.
  const at = argv.lastIndexOf(word)
  const inline = /^--([^=]+)=(.*)$/.exec(argv[at - 1] ?? '')
  const [flag, value] = inline
    ? [inline[1], inline[2]]
    : argv[at - 2]?.startsWith('--')
      ? [argv[at - 2]?.slice(2), argv[at - 1]]
      : [undefined, undefined]
  const hint =
    flag !== undefined && command.flags[flag]?.type === 'string'
      ? `; did you mean --${flag} "${value} ${word}"?`
      : 'provider-id' in command.flags && !word.startsWith('-')
        ? `; to choose a provider, pass --provider-id ${word}`
        : ''
  return `unexpected argument ${JSON.stringify(word)}: ${takes}${hint}`
}

/**
 * Runs `keyfob` with `argv` (without the node and script paths) and resolves the exit code. It
 * never throws: every failure is printed as one line (a stack trace only with `--debug`).
 *
 * @param argv - The arguments, e.g. `['token', '--min-ttl', '5m']`.
 * @param io - Streams and environment; default the process's.
 * @returns The exit code (see {@link EXIT}).
 * @example
 * ```ts
 * import { run } from '@keyfob/cli'
 * process.exitCode = await run(process.argv.slice(2))
 * ```
 */
export async function run(argv: readonly string[], io?: CliIo): Promise<number> {
  // openeo-auth puts -v before the command (`openeo-auth -v add-oidc …`): move it after.
  const leading = argv.findIndex((a) => !/^(-v+|--verbose)$/.test(a))
  const verbosity = leading === -1 ? [...argv] : argv.slice(0, leading)
  if (verbosity.length > 0) {
    if (leading === -1) {
      const ctx = new Context(io, {})
      return ctx.fail(
        new UsageError(
          '-v is --verbose (as in openeo-auth) and needs a command; for the version run `keyfob --version`',
        ),
        'keyfob --help',
      )
    }
    argv = [argv[leading] as string, ...verbosity, ...argv.slice(leading + 1)]
  }
  const first = argv[0] === undefined ? undefined : (ALIASES[argv[0]] ?? argv[0])
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' && argv[1] ? (ALIASES[argv[1]] ?? argv[1]) : undefined
    const command = topic ? COMMANDS[topic] : undefined
    const out = io?.stdout ?? process.stdout
    out.write(command && topic ? commandHelp(topic, command) : mainHelp())
    return first === undefined ? EXIT.usage : EXIT.ok
  }
  if (first === '--version') {
    const { readFileSync } = await import('node:fs')
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    ;(io?.stdout ?? process.stdout).write(`${pkg.version}\n`)
    return EXIT.ok
  }
  const command = COMMANDS[first]
  const ctx = new Context(io, {})
  if (!command) {
    const suggestion = first.startsWith('-') ? undefined : closest(first, Object.keys(COMMANDS))
    return ctx.fail(
      new UsageError(
        `unknown command ${JSON.stringify(first)}${suggestion ? `; did you mean \`keyfob ${suggestion}\`?` : ''}`,
      ),
      'keyfob --help',
    )
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] }
  try {
    parsed = parseArgs({
      args: argv.slice(1) as string[],
      options: parseConfigOf(command.flags),
      allowPositionals: true,
      strict: true,
    }) as { values: Record<string, unknown>; positionals: string[] }
  } catch (error) {
    return ctx.fail(flagError(error, Object.keys({ ...GLOBAL, ...command.flags })), `keyfob ${first} --help`)
  }
  const values = parsed.values
  if (values.help) {
    ctx.out(commandHelp(first, command))
    return EXIT.ok
  }
  const extra = parsed.positionals[command.positionals?.length ?? 0]
  if (extra !== undefined)
    return ctx.fail(new UsageError(unexpectedArgument(first, command, extra, argv)), `keyfob ${first} --help`)
  const verbose = Array.isArray(values.verbose) ? values.verbose.length : 0
  const globals: GlobalOptions = {
    ...(typeof values.store === 'string' ? { store: values.store } : {}),
    ...(typeof values['config-dir'] === 'string' ? { configDir: values['config-dir'] } : {}),
    ...(typeof values['data-dir'] === 'string' ? { dataDir: values['data-dir'] } : {}),
    debug: values.debug === true || verbose >= 2,
    json: values.json === true,
    verbose,
  }
  const context = new Context(io, globals)
  try {
    const module = await command.load()
    return await module.run(context, parsed)
  } catch (error) {
    return context.fail(error, `keyfob ${first} --help`)
  } finally {
    context.dispose()
  }
}
