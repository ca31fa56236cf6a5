/** Errors the mock IdP throws at its caller (not the OAuth errors it answers on the wire). @module */

/**
 * The stable codes of {@link MockIdpError}. `ERR_CONTROL_FORBIDDEN` is only ever an HTTP control-plane
 * answer: a request from a browser, from a non-loopback `Host`, or without the control token.
 */
export type MockIdpErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_UNKNOWN_USER'
  | 'ERR_UNKNOWN_CLIENT'
  | 'ERR_DUPLICATE'
  | 'ERR_UNKNOWN_USER_CODE'
  | 'ERR_DEVICE_CODE_STATE'
  | 'ERR_PORT_IN_USE'
  | 'ERR_UNSUPPORTED_RUNTIME'
  | 'ERR_CONTROL_FORBIDDEN'

/**
 * A misuse of the mock IdP's API: a bad option, an unknown user or client, a device code in the
 * wrong state. Switch on `code`, never on the message.
 *
 * @example
 * ```ts
 * try { idp.control.devices.approve('NOPE-NOPE') } catch (e) {
 *   if (e instanceof MockIdpError && e.code === 'ERR_UNKNOWN_USER_CODE') { … }
 * }
 * ```
 */
export class MockIdpError extends Error {
  /** What went wrong, stable across versions. */
  readonly code: MockIdpErrorCode

  /**
   * @param code - The stable error code.
   * @param message - What was wrong, with which value, and what to do.
   * @param options - `cause`: the evidence.
   */
  constructor(code: MockIdpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = this.constructor.name
  }
}
