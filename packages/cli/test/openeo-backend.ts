/**
 * A small openEO-like back-end for the end-to-end tests, over real loopback HTTP. It follows the
 * openEO API as the openEO Python client uses it (`openeo/rest/connection.py`): version discovery
 * at `/.well-known/openeo` (the API lives under `/openeo/1.2`, nothing at the root), capabilities
 * at `/openeo/1.2/`, providers at `/credentials/oidc`, Basic login at `/credentials/basic`, and
 * `/me`, which accepts `Bearer oidc/<provider id>/<access token>` only for a listed provider and a
 * token the IdP's userinfo endpoint accepts, and `Bearer basic//<token>` only for a token it
 * issued.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** The running back-end. */
export interface OpenEoBackend {
  /** The URL users type: `http://127.0.0.1:<port>` (no API there, only `/.well-known/openeo`). */
  readonly url: string
  /** The API root that version discovery must find: `<url>/openeo/1.2`. */
  readonly root: string
  /** What `/credentials/oidc` lists; tests may replace it (a hostile back-end). */
  providers: unknown[]
  /** Every request: method, path and the `Authorization` scheme and first characters (no secrets). */
  readonly requests: Array<{ method: string; path: string }>
  /** Stops listening. */
  close(): Promise<void>
}

/** Options of {@link openEoBackend}. */
export interface OpenEoBackendOptions {
  /** The IdP whose access tokens `/me` accepts (checked at its `/userinfo`). */
  readonly issuer: string
  /** What `/credentials/oidc` lists. */
  readonly providers: unknown[]
  /** Basic users: name → password. */
  readonly users?: Readonly<Record<string, string>>
}

/**
 * Starts the back-end on 127.0.0.1 and a free port.
 *
 * @param options - The IdP, the advertised providers, the Basic users.
 * @returns The running back-end.
 */
export async function openEoBackend(options: OpenEoBackendOptions): Promise<OpenEoBackend> {
  const basicTokens = new Map<string, string>()
  const requests: Array<{ method: string; path: string }> = []
  const state = { providers: options.providers }
  let url = ''
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const error = (res: ServerResponse, status: number, code: string, message: string) =>
    send(res, status, { id: randomUUID(), code, message })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', url).pathname
    requests.push({ method: req.method ?? 'GET', path })
    const api = '/openeo/1.2'
    if (path === '/.well-known/openeo')
      // openEO's discovery keeps api_version >= 1.0.0 and prefers production versions, highest first.
      return send(res, 200, {
        versions: [
          { url: `${url}/openeo/0.4/`, api_version: '0.4.2' },
          { url: `${url}/openeo/1.1/`, api_version: '1.1.0', production: true },
          { url: `${url}${api}/`, api_version: '1.2.0', production: true },
          { url: `${url}/openeo/1.3/`, api_version: '1.3.0', production: false },
        ],
      })
    if (path === api || path === `${api}/`)
      return send(res, 200, {
        api_version: '1.2.0',
        backend_version: 'test',
        stac_version: '1.0.0',
        id: 'keyfob-test',
        title: 'keyfob test back-end',
        description: 'openEO-like back-end for keyfob tests',
        endpoints: [
          { path: '/credentials/oidc', methods: ['GET'] },
          { path: '/credentials/basic', methods: ['GET'] },
          { path: '/me', methods: ['GET'] },
        ],
        links: [],
      })
    if (path === `${api}/credentials/oidc`) return send(res, 200, { providers: state.providers })
    if (path === `${api}/credentials/basic`) {
      const header = req.headers.authorization ?? ''
      const decoded = header.startsWith('Basic ')
        ? Buffer.from(header.slice(6), 'base64').toString('utf8')
        : ''
      const colon = decoded.indexOf(':')
      const user = decoded.slice(0, colon)
      if (
        colon < 0 ||
        options.users?.[user] === undefined ||
        options.users[user] !== decoded.slice(colon + 1)
      )
        return error(res, 403, 'CredentialsInvalid', 'Credentials are not correct.')
      const token = randomUUID()
      basicTokens.set(token, user)
      return send(res, 200, { access_token: token })
    }
    if (path === `${api}/me`) {
      const header = req.headers.authorization ?? ''
      const bearer = header.startsWith('Bearer ') ? header.slice(7) : ''
      if (bearer.startsWith('basic//')) {
        const user = basicTokens.get(bearer.slice(7))
        return user
          ? send(res, 200, { user_id: user })
          : error(res, 403, 'TokenInvalid', 'Authorization token has expired or is invalid.')
      }
      const match = /^oidc\/([^/]+)\/(.+)$/.exec(bearer)
      if (!match) return error(res, 401, 'AuthenticationRequired', 'Unauthorized.')
      const listed = state.providers.some((p) => (p as { id?: unknown }).id === match[1])
      if (!listed) return error(res, 403, 'TokenInvalid', `Unknown provider ${match[1]}.`)
      const info = await fetch(`${options.issuer}/userinfo`, {
        headers: { authorization: `Bearer ${match[2]}` },
      })
      if (!info.ok) return error(res, 403, 'TokenInvalid', 'Authorization token has expired or is invalid.')
      const claims = (await info.json()) as { sub: string }
      return send(res, 200, { user_id: claims.sub, provider: match[1] })
    }
    return error(res, 404, 'NotFound', `No ${path} here.`)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => error(res, 500, 'Internal', String(e)))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    root: `${url}/openeo/1.2`,
    get providers() {
      return state.providers
    },
    set providers(value: unknown[]) {
      state.providers = value
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
