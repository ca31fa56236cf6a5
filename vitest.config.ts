// One vitest run over every package's tests, resolving workspace packages to their sources (the
// `source` export condition). Tests that spawn real processes run the built `dist/`: the global
// setup builds it first (cached by turbo).
import { defineConfig } from 'vitest/config'

// vite's defaultServerConditions, with `source` first.
const conditions = ['source', 'module', 'node', 'development|production']

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    globalSetup: ['scripts/vitest-build.ts'],
    pool: 'forks',
    // Tests that a request's timeout survives a garbage collection call gc().
    execArgv: ['--expose-gc'],
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
