/** The gateway's typed configuration errors. @module */

/** Every code a {@link GatewayError} can carry. Switch on it; never on the message. */
export type GatewayErrorCode =
  /** A flag is unknown, lacks its value, or a value has the wrong form. */
  | 'ERR_USAGE'
  /** A required setting (the upstream) is missing. */
  | 'ERR_MISSING_SETTING'
  /** No authentication mode is configured and `--allow-unauthenticated` was not given. */
  | 'ERR_NO_MODE'
  /** Two or more modes are configured and `--combine` does not say how they combine. */
  | 'ERR_MUTUALLY_EXCLUSIVE'
  /** A fastgeoapi setting would run insecurely (no expected audience or issuer, an empty key). */
  | 'ERR_INSECURE_SETTING'
  /** A file named by `--env-file`, `--config` or `--fastgeoapi-env` cannot be read or parsed. */
  | 'ERR_FILE'

/**
 * The one error class of `@keyfob/gateway`: a configuration the gateway refuses to start with.
 * The message names the flag or variable to set and what to set it to; a secret never appears
 * in it. Errors from `@keyfob/guard` (a bad issuer URL, an empty key) pass through as they are.
 *
 * @example
 * ```ts
 * import { GatewayError, loadConfig } from '@keyfob/gateway'
 *
 * try {
 *   loadConfig({ argv: ['--upstream', 'http://127.0.0.1:5000'], env: {} })
 * } catch (e) {
 *   if (e instanceof GatewayError && e.code === 'ERR_NO_MODE') console.error(e.message)
 * }
 * ```
 */
export class GatewayError extends Error {
  /** The stable code. */
  readonly code: GatewayErrorCode

  /**
   * @param code - The stable code.
   * @param message - What was wrong and what to do.
   * @param options - `cause`: the evidence, never a secret.
   */
  constructor(code: GatewayErrorCode, message: string, options?: { readonly cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = this.constructor.name
  }
}
