// One vitest run over every package's tests, resolving workspace packages to their sources (the
// `source` export condition), so no build is needed before a test.
import { defineConfig } from 'vitest/config'

// vite's defaultServerConditions, with `source` first.
const conditions = ['source', 'module', 'node', 'development|production']

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
