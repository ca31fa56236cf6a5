/**
 * The entry of the standalone `keyfob` executable (`npm run build:bin`): the CLI's own entry
 * (packages/cli/src/bin.ts), or, when the keychain store starts this program as its helper
 * (`KEYFOB_INTERNAL_KEYRING_HELPER=1`), the keyring helper. Both load lazily, so `keyfob token`
 * with a cached token never loads the native keyring addon.
 *
 * @module
 */
// biome-ignore lint/suspicious/noUndeclaredEnvVars: read by the executable at run time, no turbo task's input
if (process.env.KEYFOB_INTERNAL_KEYRING_HELPER === '1') await import('./keyring-helper.ts')
else await import('../../packages/cli/src/bin.ts')
