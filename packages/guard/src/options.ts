/** Option parsing every factory shares: numbers, lists, entry options. @internal @module */
import { GuardError } from './errors.ts'
import type { EntryOptions } from './types.ts'

/** A non-negative finite number, or `fallback` when unset. @internal */
export function nonNegative(
  value: number | undefined,
  fallback: number,
  what: string,
  owner: string,
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: ${what} must be a non-negative number, got ${String(value)}`,
    )
  }
  return value
}

/** A positive integer, or `fallback` when unset. @internal */
export function positiveInteger(
  value: number | undefined,
  fallback: number,
  what: string,
  owner: string,
): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: ${what} must be a positive integer, got ${String(value)}`,
    )
  }
  return value as number
}

/** A string or a non-empty list of non-empty strings, as a list; `undefined` when unset. @internal */
export function listOf(
  value: string | readonly string[] | undefined,
  what: string,
  owner: string,
): string[] | undefined {
  if (value === undefined) return undefined
  const list = typeof value === 'string' ? [value] : value
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((v) => typeof v === 'string' && v.length > 0)
  ) {
    throw new GuardError(
      'ERR_INVALID_OPTION',
      `${owner}: ${what} must be a non-empty string or array of non-empty strings`,
    )
  }
  return [...list]
}

/** Whether entry options were given to a scheme's own middleware. @internal */
export function hasEntryOptions(options: EntryOptions): boolean {
  return (
    options.publicPaths !== undefined || options.corsPreflight !== undefined || options.onEvent !== undefined
  )
}
