// Generates the API reference (api/) from the packages' TSDoc, and fails — so the docs build fails —
// on an undocumented export, an unresolvable {@link} or a symbol that is used but not exported.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Application } from 'typedoc'

const docs = fileURLToPath(new URL('..', import.meta.url))
const packages = join(docs, '..', '..', 'packages')
const entryPoints = readdirSync(packages)
  .map((dir) => join(packages, dir))
  .filter((dir) => existsSync(join(dir, 'src', 'index.ts')) && existsSync(join(dir, 'package.json')))
  .sort()

const out = join(docs, 'api')
rmSync(out, { recursive: true, force: true })
const app = await Application.bootstrapWithPlugins({
  name: 'API reference',
  entryPoints,
  entryPointStrategy: 'packages',
  packageOptions: {
    entryPoints: ['src/index.ts'],
    excludeInternal: true,
    excludePrivate: true,
    readme: 'none',
    disableSources: true,
  },
  plugin: ['typedoc-plugin-markdown', 'typedoc-vitepress-theme'],
  out,
  readme: 'none',
  excludeInternal: true,
  excludePrivate: true,
  validation: { notExported: true, invalidLink: true, notDocumented: true },
  treatWarningsAsErrors: true,
  treatValidationWarningsAsErrors: true,
  hideGenerator: true,
  disableSources: true,
  // typedoc-plugin-markdown: one page per module and per class/interface, VitePress-friendly links.
  outputFileStrategy: 'modules',
  entryFileName: 'index.md',
  // typedoc-vitepress-theme: the sidebar the site config reads.
  docsRoot: docs,
  sidebar: { pretty: true },
})
const project = await app.convert()
if (!project || app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error('api: the API reference has errors (see above): every export needs TSDoc')
  process.exit(1)
}
app.validate(project)
if (app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error('api: validation failed (see above): every export needs TSDoc and valid links')
  process.exit(1)
}
await app.generateOutputs(project)
if (app.logger.hasErrors()) process.exit(1)
console.log(`api: reference for ${entryPoints.length} packages written to ${out}`)
