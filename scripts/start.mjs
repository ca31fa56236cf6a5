// `npm start`: the main job — runs the mock IdP with demo users and clients, then a demo login
// against it, so a fresh checkout shows the whole loop working (and says why when it cannot).
//
//   npm start                 # IdP on 127.0.0.1:9400 (or $KEYFOB_PORT), demo, keeps running
//   npm start -- --once       # demo, then stop (what the test of this script runs)
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const once = process.argv.includes('--once')
const port = process.env.KEYFOB_PORT ?? '9400'
const say = (line = '') => process.stdout.write(`${line}\n`)

function fail(message) {
  process.stderr.write(`npm start: ${message}\n`)
  process.exit(1)
}

// 1. Build the packages the demo and the `keyfob` command need (turbo caches it: instant after the
//    first time), and check that `npx keyfob` runs from this checkout, as the banner says it does.
const build = spawnSync(
  'npx',
  [
    'turbo',
    'run',
    'build',
    '--filter=@keyfob/mock-idp',
    '--filter=@keyfob/flows',
    '--filter=@keyfob/cli',
    '--output-logs=errors-only',
  ],
  { cwd: root, stdio: 'inherit' },
)
if (build.status !== 0) fail('the build failed (see above); run `npm ci` first if node_modules is missing')
const cli = spawnSync('npx', ['--no-install', 'keyfob', '--version'], { cwd: root, encoding: 'utf8' })
if (cli.status !== 0) fail(`\`npx keyfob --version\` failed after the build:\n${cli.stderr || cli.error}`)

// 2. Start the mock IdP with the demo users and clients.
const idpProcess = spawn(
  process.execPath,
  [
    `${root}packages/mock-idp/bin/mock-idp.mjs`,
    '--config',
    `${root}packages/mock-idp/examples/demo.json`,
    '--port',
    port,
  ],
  { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
)
let stderr = ''
idpProcess.stderr.on('data', (d) => {
  stderr += d
})
let started = false
const issuer = await new Promise((resolve) => {
  let out = ''
  idpProcess.stdout.on('data', (d) => {
    out += d
    const match = /issuer\s+(\S+)/.exec(out)
    if (match && !started) {
      started = true
      process.stdout.write(out)
      resolve(match[1])
    }
  })
  idpProcess.once('exit', () => {
    if (started) return
    if (/already in use/.test(stderr)) {
      fail(
        `port ${port} is already in use. Stop what runs there, or choose another port: KEYFOB_PORT=${Number(port) + 1} npm start`,
      )
    }
    fail(`the mock IdP did not start:\n${stderr}`)
  })
})
const stop = () => idpProcess.kill('SIGTERM')
process.once('SIGINT', () => {
  stop()
  process.exit(130)
})

// 3. A demo login with @keyfob/flows: the device flow a CLI would run, with the person's
//    approval simulated through the IdP's control plane, then a client-credentials token.
try {
  const { clientCredentials, deviceLogin } = await import('@keyfob/flows')
  say('\n— demo: device login as a command-line tool would do it —')
  const tokens = await deviceLogin({
    issuer,
    client: { clientId: 'keyfob-cli' },
    scope: 'openid profile email offline_access',
    display: async ({ userCode, verificationUriComplete }) => {
      say(`Open ${verificationUriComplete} (code ${userCode}) to approve.`)
      say('Approving as alice through the control plane, as a person would on that page …')
      const approved = await fetch(`${issuer}/_control/devices/${encodeURIComponent(userCode)}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sub: 'alice' }),
      })
      if (!approved.ok) throw new Error(`approval failed: ${approved.status} ${await approved.text()}`)
    },
  })
  const claims = JSON.parse(Buffer.from(tokens.record.idToken.split('.')[1], 'base64url').toString())
  say(
    `Logged in as ${claims.sub} (${claims.email}); access token valid until ${new Date(tokens.record.expiresAt).toISOString()}, refresh token received: ${Boolean(tokens.refreshToken)}`,
  )
  const info = await (
    await fetch(`${issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.accessToken}` } })
  ).json()
  say(`userinfo: ${JSON.stringify(info)}`)

  say('\n— demo: client credentials for a service —')
  const service = await clientCredentials({
    issuer,
    client: { clientId: 'keyfob-service', clientSecret: 'demo-service-secret' },
  })
  say(
    `service token (${service.record.tokenType}, until ${new Date(service.record.expiresAt).toISOString()}): ${service.accessToken.slice(0, 24)}…`,
  )
  const journal = await (await fetch(`${issuer}/_control/journal?endpoint=token`)).json()
  say(
    `the IdP's journal shows ${journal.length} token requests: ${journal.map((e) => `${e.grantType.replace('urn:ietf:params:oauth:grant-type:', '')}→${e.status}${e.error ? ` ${e.error}` : ''}`).join(', ')}`,
  )
} catch (error) {
  stop()
  fail(
    `the demo login failed: ${error instanceof Error ? `${error.message}${error.code ? ` (${error.code})` : ''}` : error}`,
  )
}

say('\n— the keyfob command, from this checkout (npx runs the workspace copy) —')
say('  npx keyfob --help')
say(`  npx keyfob add-oidc ${issuer} --provider-id mock --client-id keyfob-cli --no-client-secret`)
say('  npx keyfob login      # approve the code as alice / alice (or bob / bob)')
say('  npx keyfob token')
say('  (it keeps its files where `npx keyfob paths` says; `npx keyfob mock-idp` runs this IdP on its own)')

if (once) {
  stop()
  say('\ndemo done.')
} else {
  say(`\nThe mock IdP keeps running at ${issuer}. Try the device page at ${issuer}/device. Ctrl-C to stop.`)
}
