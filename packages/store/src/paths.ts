/** Where keyfob keeps configuration and tokens on each platform. @module */
import { homedir as osHomedir } from 'node:os'
import { join, win32 } from 'node:path'

/** The directories keyfob uses, and the files in them. */
export interface KeyfobPaths {
  /** Configuration directory (providers, clients, default account). */
  readonly configDir: string
  /** Data directory (tokens, locks). */
  readonly dataDir: string
  /** `config.json` in the configuration directory. */
  readonly configFile: string
  /** `tokens.json` in the data directory. */
  readonly tokensFile: string
}

/** What {@link defaultPaths} looks at; every field defaults to the running process's. */
export interface PathEnvironment {
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly platform?: string
  readonly homedir?: string
}

/**
 * The configuration and data directories: `$KEYFOB_CONFIG_DIR` / `$KEYFOB_DATA_DIR` when set,
 * else the platform's convention — XDG on Linux and other Unixes (`$XDG_CONFIG_HOME/keyfob`,
 * `~/.config/keyfob`; `$XDG_DATA_HOME/keyfob`, `~/.local/share/keyfob`), `~/Library/Application
 * Support/keyfob` on macOS (both), `%APPDATA%\keyfob` on Windows (both). Nothing is created.
 *
 * @param environment - Environment variables, platform and home directory to use.
 * @returns The directories and file paths.
 * @example
 * ```ts
 * import { defaultPaths } from '@keyfob/store'
 * defaultPaths({ env: {}, platform: 'linux', homedir: '/home/a' }).tokensFile
 * // '/home/a/.local/share/keyfob/tokens.json'
 * ```
 */
export function defaultPaths(environment: PathEnvironment = {}): KeyfobPaths {
  const env = environment.env ?? process.env
  const platform = environment.platform ?? process.platform
  const home = environment.homedir ?? osHomedir()
  const set = (name: string) => {
    const value = env[name]
    return value !== undefined && value !== '' ? value : undefined
  }
  const path = platform === 'win32' ? win32 : { join }
  let configDir: string
  let dataDir: string
  if (platform === 'win32') {
    const appData = set('APPDATA') ?? win32.join(home, 'AppData', 'Roaming')
    configDir = win32.join(appData, 'keyfob')
    dataDir = configDir
  } else if (platform === 'darwin') {
    configDir = join(home, 'Library', 'Application Support', 'keyfob')
    dataDir = configDir
  } else {
    configDir = join(set('XDG_CONFIG_HOME') ?? join(home, '.config'), 'keyfob')
    dataDir = join(set('XDG_DATA_HOME') ?? join(home, '.local', 'share'), 'keyfob')
  }
  configDir = set('KEYFOB_CONFIG_DIR') ?? configDir
  dataDir = set('KEYFOB_DATA_DIR') ?? dataDir
  return {
    configDir,
    dataDir,
    configFile: path.join(configDir, 'config.json'),
    tokensFile: path.join(dataDir, 'tokens.json'),
  }
}
