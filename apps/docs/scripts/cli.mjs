// Generates the CLI reference's usage lines, option tables and examples (.cli/*.md, included by
// cli.md) from the one source `keyfob --help` prints from — the COMMANDS table of @keyfob/cli — so
// the page cannot drift from the help. Fails, and so the docs build fails, when cli.md lacks a
// section or an include for a command.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COMMANDS, run } from '@keyfob/cli'

const docs = fileURLToPath(new URL('..', import.meta.url))
const out = join(docs, '.cli')

/** What `keyfob <argv>` prints on stdout, run in this process. */
async function printed(argv) {
  let text = ''
  const code = await run(argv, { stdout: { write: (t) => (text += t) }, stderr: { write: () => {} } })
  if (code !== 0) throw new Error(`keyfob ${argv.join(' ')} exited ${code}`)
  return text
}

/**
 * A table cell: pipes escaped, `$VARIABLES`, `--flags` and `<placeholders>` as code (the
 * placeholders would otherwise be HTML to VitePress's Vue compiler).
 */
const cell = (text) =>
  text.replaceAll('|', '\\|').replace(/(?<![`\w])(\$[A-Z_]+|--[a-z][\w-]*|\S*<[\w-]+>\S*)/g, '`$1`')

/** The flags of a help section (`Options:` or `Global options:`), parsed back from the help text. */
function helpFlags(help, section) {
  const lines = help.split('\n')
  const start = lines.indexOf(`${section}:`)
  if (start < 0) return []
  const flags = []
  for (const line of lines.slice(start + 1)) {
    const match = /^ {2}(?:-(\w), | {4})--([\w-]+)(?: <([^>]+)>)?\s{2,}(.*)$/.exec(line)
    if (!match) break
    flags.push({ short: match[1], name: match[2], value: match[3], help: match[4] })
  }
  return flags
}

function optionTable(flags) {
  const rows = flags.map((f) => {
    const names = [f.short ? `\`-${f.short}\`` : '', `\`--${f.name}${f.value ? ` <${f.value}>` : ''}\``]
    return `| ${names.filter(Boolean).join(', ')} | ${cell(f.help)} |`
  })
  return ['| option | what |', '|---|---|', ...rows].join('\n')
}

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const page = readFileSync(join(docs, 'cli.md'), 'utf8')
const missing = []

const names = Object.keys(COMMANDS)
const main = await printed(['--help'])
writeFileSync(
  join(out, 'commands.md'),
  [
    '| command | what it does |',
    '|---|---|',
    ...names.map((name) => `| [\`${name}\`](#${name}) | ${cell(COMMANDS[name].summary)} |`),
    '',
  ].join('\n'),
)
writeFileSync(join(out, 'global.md'), `${optionTable(helpFlags(main, 'Global options'))}\n`)

for (const name of names) {
  const command = COMMANDS[name]
  const help = await printed([name, '--help'])
  const flags = helpFlags(help, 'Options')
  // The table is what the help prints: a flag the parser of this script missed is a failure.
  if (flags.length !== Object.keys(command.flags).length)
    throw new Error(
      `cli: parsed ${flags.length} of the ${Object.keys(command.flags).length} flags of ${name}`,
    )
  writeFileSync(
    join(out, `${name}.md`),
    [
      '```sh',
      command.usage,
      '```',
      '',
      optionTable(flags),
      '',
      `Examples (\`keyfob ${name} --help\`):`,
      '',
      '```sh',
      ...command.examples,
      '```',
      '',
    ].join('\n'),
  )
  if (!page.includes(`{#${name}}`)) missing.push(`a section headed "## keyfob ${name} {#${name}}"`)
  if (!page.includes(`<!--@include: ./.cli/${name}.md-->`))
    missing.push(`<!--@include: ./.cli/${name}.md--> in the ${name} section`)
}
for (const part of ['commands', 'global'])
  if (!page.includes(`<!--@include: ./.cli/${part}.md-->`)) missing.push(`<!--@include: ./.cli/${part}.md-->`)
if (missing.length > 0) {
  console.error(`cli: apps/docs/cli.md is missing:\n  ${missing.join('\n  ')}`)
  process.exit(1)
}
console.log(`cli: reference for ${names.length} commands written to ${out}`)
