/** Shared by the flows tests (not a test file itself). */
import { KeyfobError } from '@keyfob/core'
import { expect } from 'vitest'

/** The `KeyfobError` code a promise rejects with, or `undefined` when it resolves. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
    return undefined
  } catch (error) {
    expect(error).toBeInstanceOf(KeyfobError)
    return (error as KeyfobError).code
  }
}
