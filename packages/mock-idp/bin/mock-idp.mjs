#!/usr/bin/env node
// @ts-check
/**
 * `keyfob-mock-idp`: runs the mock IdP on a port until interrupted.
 *
 *   keyfob-mock-idp [--port 9400] [--hostname 127.0.0.1] [--config demo.json]
 *
 * The config file is JSON with the options of `serve()` (users, clients, lifetimes, port, …).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { MockIdpError, serve } from '../dist/index.js'

const USAGE = `Usage: keyfob-mock-idp [options]

Runs a mock OpenID provider for tests on 127.0.0.1 until Ctrl-C.

Options:
  -p, --port <port>        port to listen on (default: the config's port, else 9400; 0 = any free port)
  -H, --hostname <addr>    address to bind (default 127.0.0.1)
  -c, --config <file>      JSON file with users, clients and other options
  -h, --help               show this help
  -v, --version            show the version

Examples:
  keyfob-mock-idp --config examples/demo.json
  keyfob-mock-idp --port 0`

/** @param {string} message */
function usageError(message) {
  process.stderr.write(`keyfob-mock-idp: ${message}\n\n${USAGE}\n`)
  process.exit(2)
}

let values
try {
  ;({ values } = parseArgs({
    options: {
      port: { type: 'string', short: 'p' },
      hostname: { type: 'string', short: 'H' },
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
    strict: true,
  }))
} catch (error) {
  usageError(error instanceof Error ? error.message : String(error))
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
if (values.version) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`${pkg.version}\n`)
  process.exit(0)
}

/** @type {Record<string, unknown>} */
let config = {}
if (values.config !== undefined) {
  let text
  try {
    text = readFileSync(values.config, 'utf8')
  } catch (error) {
    process.stderr.write(
      `keyfob-mock-idp: cannot read config file ${values.config}: ${error instanceof Error ? error.message : error}\n`,
    )
    process.exit(1)
  }
  try {
    config = JSON.parse(text)
  } catch (error) {
    process.stderr.write(
      `keyfob-mock-idp: config file ${values.config} is not valid JSON: ${error instanceof Error ? error.message : error}\n`,
    )
    process.exit(1)
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    process.stderr.write(`keyfob-mock-idp: config file ${values.config} must hold a JSON object\n`)
    process.exit(1)
  }
  delete config.$comment
}
const port =
  values.port !== undefined ? Number(values.port) : typeof config.port === 'number' ? config.port : 9400
if (!Number.isInteger(port) || port < 0 || port > 65535)
  usageError(`--port must be a number 0-65535, got ${values.port}`)

let server
try {
  server = await serve({
    ...config,
    port,
    hostname: values.hostname ?? (typeof config.hostname === 'string' ? config.hostname : '127.0.0.1'),
  })
} catch (error) {
  if (error instanceof MockIdpError && error.code === 'ERR_PORT_IN_USE') {
    process.stderr.write(
      `keyfob-mock-idp: ${error.message}\n  e.g. keyfob-mock-idp --port ${port + 1}, or --port 0 for any free port\n`,
    )
    process.exit(1)
  }
  if (error instanceof MockIdpError) {
    process.stderr.write(`keyfob-mock-idp: ${error.message}\n`)
    process.exit(1)
  }
  throw error
}
const { idp } = server
process.stdout.write(
  [
    `mock IdP listening on ${server.url}`,
    `  issuer     ${server.issuer}`,
    `  discovery  ${server.issuer}/.well-known/openid-configuration`,
    `  device     ${server.issuer}/device`,
    `  control    ${server.issuer}/_control (users, clients, devices, clock, faults, journal)`,
    ...(server.controlToken !== undefined
      ? [`  control token (send as "Authorization: Bearer <token>")  ${server.controlToken}`]
      : []),
    `  users      ${idp.control.users
      .list()
      .map((u) => u.username ?? u.sub)
      .join(', ')}`,
    `  clients    ${
      idp.control.clients
        .list()
        .map((c) => c.clientId)
        .join(', ') || '(none)'
    }`,
    'Press Ctrl-C to stop.',
    '',
  ].join('\n'),
)
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    server.close().then(() => process.exit(signal === 'SIGINT' ? 130 : 0))
  })
}
