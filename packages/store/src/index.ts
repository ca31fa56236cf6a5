/**
 * `@keyfob/store`: where keyfob keeps secrets and configuration — in memory, in private files
 * (atomic writes, advisory locks, 0600 in 0700 directories), or in the OS keychain — plus an
 * explicit fallback chain and an importer for the openEO client's files.
 *
 * @module
 */
export { StoreError, type StoreErrorCode } from './errors.ts'
export {
  type FallbackOptions,
  type FallbackTokenStore,
  fallbackTokenStore,
  type SkippedStore,
} from './fallback.ts'
export {
  type FileConfigStore,
  type FileConfigStoreOptions,
  type FileTokenStore,
  type FileTokenStoreOptions,
  fileConfigStore,
  fileTokenStore,
} from './file-stores.ts'
export {
  type KeychainTokenStore,
  type KeychainTokenStoreOptions,
  type KeyringModule,
  keychainTokenStore,
} from './keychain.ts'
export { type LocatedTokenStoreOptions, locatedTokenStore, locationIs, withTokenLocation } from './located.ts'
export { type FileLockOptions, withFileLock } from './lock.ts'
export { memoryConfigStore, memoryTokenStore } from './memory.ts'
export {
  importOpenEo,
  type OpenEoFileReport,
  type OpenEoImportOptions,
  type OpenEoImportResult,
  type OpenEoPaths,
  type OpenEoSearchPaths,
  openEoCandidates,
  openEoPaths,
  openEoSearchPaths,
} from './openeo.ts'
export { defaultPaths, type KeyfobPaths, type PathEnvironment } from './paths.ts'
export type { StoreWarning, WarningHandler } from './records.ts'
