// vitest globalSetup: builds every package once (turbo caches it) before the tests that spawn
// real processes — the `keyfob` binary, store writers killed mid-write — which run the built
// `dist/`, as users do. Tests that import packages in-process still read `src/`.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

export default function setup(): void {
  // For a quick loop over in-process tests only; `npm test` and CI always build.
  if (process.env.KEYFOB_TEST_NO_BUILD === '1' && process.env.CI !== 'true') return
  // scripts/test.mjs (`npm test`, CI) ran `turbo run build` itself, once, before starting vitest,
  // and counted it: a second turbo run here would only rewrite the same dist/ files.
  if (process.env.KEYFOB_TEST_BUILT === '1') return
  const root = join(import.meta.dirname, '..')
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'turbo', 'bin', 'turbo'), 'run', 'build', '--output-logs=errors-only'],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
}
