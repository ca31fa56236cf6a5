// Lets the shared vitest-style test files run under `deno test`: without it Deno cannot resolve
// the `vitest` import, and the suite would silently be Node-only.
import { after, afterEach, before, beforeEach, describe as nodeDescribe, it as nodeIt } from 'node:test'
import { expect } from 'expect'

type Fn = () => unknown | Promise<unknown>

/** vitest's `it(name, fn, timeoutMs)` on top of node:test's `it(name, options, fn)`. */
function it(name: string, fn: Fn, timeout?: number): void {
  nodeIt(name, timeout === undefined ? {} : { timeout }, async () => {
    await fn()
  })
}

/** vitest's `describe(name, fn)`. */
function describe(name: string, fn: () => void): void {
  nodeDescribe(name, fn)
}

export { after as afterAll, afterEach, before as beforeAll, beforeEach, describe, expect, it, it as test }
