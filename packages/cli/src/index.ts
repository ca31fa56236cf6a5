/**
 * `@keyfob/cli`: the `keyfob` command. Use the binary; `run` is exported for embedding and tests.
 *
 * @module
 */

export {
  type CliIo,
  Context,
  EXIT,
  exitCodeOf,
  type GlobalOptions,
  type OutStream,
  parseDuration,
  UsageError,
} from './context.ts'
export { ALIASES, COMMANDS, type Command, closest, type Flag, run } from './main.ts'
