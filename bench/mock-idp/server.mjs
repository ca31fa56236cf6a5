// Starts one token server for the benchmark in its own process, so the load generator and the
// server do not share an event loop. Prints `READY <url>` when listening.
import process from 'node:process'

const [kind, portArg] = process.argv.slice(2)
const port = Number(portArg ?? 0)

async function start() {
  switch (kind) {
    case 'keyfob-jwt':
    case 'keyfob-opaque': {
      const { serve } = await import('@keyfob/mock-idp')
      const server = await serve({
        port,
        accessTokenFormat: kind === 'keyfob-jwt' ? 'jwt' : 'opaque',
        journalLimit: 100,
        clients: [{ clientId: 'svc', clientSecret: 's3cret' }],
      })
      return server.url
    }
    case 'oauth2-mock-server': {
      const { OAuth2Server } = await import('oauth2-mock-server')
      const server = new OAuth2Server()
      await server.issuer.keys.generate('RS256')
      await server.start(port, '127.0.0.1')
      return server.issuer.url
    }
    case 'oidc-provider': {
      const { default: Provider } = await import('oidc-provider')
      const provider = new Provider(`http://127.0.0.1:${port}`, {
        clients: [
          {
            client_id: 'svc',
            client_secret: 's3cret',
            grant_types: ['client_credentials'],
            redirect_uris: [],
            response_types: [],
          },
        ],
        features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
      })
      await new Promise((resolve) => provider.listen(port, '127.0.0.1', resolve))
      return `http://127.0.0.1:${port}`
    }
    default:
      throw new Error(`unknown server kind ${kind}`)
  }
}

const url = await start()
process.stdout.write(`READY ${url}\n`)
// Exit cleanly on SIGTERM so a --cpu-prof run writes its profile.
process.once('SIGTERM', () => process.exit(0))
