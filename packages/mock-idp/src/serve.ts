/** `serve`: a mock IdP on a real port, on Node, Deno or Bun. @module */
import { isLoopbackHost } from './control-http.ts'
import { MockIdpError } from './errors.ts'
import { assemble, type MockIdp } from './mock-idp.ts'
import { Provider } from './provider.ts'
import type { MockIdpOptions } from './types.ts'
import { randomToken } from './util.ts'

/** Options of {@link serve}: the IdP's own options plus where to listen. */
export interface ServeOptions extends MockIdpOptions {
  /** The port; default 0, a free port chosen by the OS. */
  readonly port?: number
  /**
   * The address to bind; default `127.0.0.1` (loopback only). Binding anything else (`0.0.0.0`,
   * a LAN address) lets other machines sign in as any test user: `serve()` then warns, signs with
   * freshly generated keys unless `keys` says otherwise, and protects the control plane with a
   * generated `controlToken` unless one is given.
   */
  readonly hostname?: string
  /** Where the warning about a non-loopback bind goes; default `console.warn`. */
  readonly warn?: (message: string) => void
}

/** A mock IdP listening on a socket. `await using server = await serve()` closes it at scope end. */
export interface MockIdpServer extends AsyncDisposable {
  /** The base URL of the server, e.g. `http://127.0.0.1:49152`. */
  readonly url: string
  /** The issuer: `url` plus the path of `options.issuer`, if it had one. */
  readonly issuer: string
  /** The IdP: control plane, in-process fetch, app. */
  readonly idp: MockIdp
  /**
   * The token the HTTP control plane requires (`Authorization: Bearer <token>`): the
   * `controlToken` option, or one generated because the server binds beyond loopback. `undefined`
   * when the control plane needs none.
   */
  readonly controlToken: string | undefined
  /** Stops listening and closes open connections. */
  close(): Promise<void>
}

type FetchHandler = (request: Request, env?: unknown) => Response | Promise<Response>

interface Listener {
  readonly port: number
  close(): Promise<void>
}

interface DenoLike {
  serve(
    options: { port: number; hostname: string; onListen?: (addr: unknown) => void },
    handler: FetchHandler,
  ): { readonly addr: { readonly port: number }; shutdown(): Promise<void> }
}

interface BunLike {
  serve(options: { port: number; hostname: string; fetch: FetchHandler }): {
    readonly port: number
    stop(force?: boolean): void
  }
}

interface NodeServerLike {
  once(event: 'listening' | 'error', listener: (error?: { code?: string }) => void): void
  address(): { port: number } | string | null
  close(callback?: () => void): void
  closeAllConnections?(): void
}

interface NodeServerModule {
  serve(options: { fetch: FetchHandler; port: number; hostname: string }): NodeServerLike
}

async function listen(handler: FetchHandler, port: number, hostname: string): Promise<Listener> {
  const runtime = globalThis as { Deno?: DenoLike; Bun?: BunLike }
  try {
    if (runtime.Deno) {
      const server = runtime.Deno.serve({ port, hostname, onListen: () => {} }, handler)
      return { port: server.addr.port, close: () => server.shutdown() }
    }
    if (runtime.Bun) {
      const server = runtime.Bun.serve({ port, hostname, fetch: handler })
      return {
        port: server.port,
        close: async () => {
          server.stop(true)
        },
      }
    }
  } catch (error) {
    throw portError(error, port, hostname)
  }
  // Typed locally: this package type-checks without Node's types.
  const { serve: nodeServe } = (await import('@hono/node-server')) as unknown as NodeServerModule
  const server = nodeServe({ fetch: handler, port, hostname })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve())
    server.once('error', (error) => reject(portError(error, port, hostname)))
  })
  const address = server.address()
  if (address === null || typeof address === 'string') {
    throw new MockIdpError(
      'ERR_UNSUPPORTED_RUNTIME',
      `the server reported no TCP port (address ${String(address)})`,
    )
  }
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections?.()
      }),
  }
}

function portError(error: unknown, port: number, hostname: string): unknown {
  const code = (error as { code?: string; name?: string } | undefined)?.code
  const name = (error as { name?: string } | undefined)?.name
  if (code === 'EADDRINUSE' || name === 'AddrInUse') {
    return new MockIdpError(
      'ERR_PORT_IN_USE',
      `port ${port} on ${hostname} is already in use; choose another port, or 0 for a free one`,
      { cause: error },
    )
  }
  return error
}

/**
 * Starts a mock IdP on a real socket: `node:http` (through `@hono/node-server`) on Node,
 * `Deno.serve` on Deno, `Bun.serve` on Bun. The issuer is the listening address.
 *
 * @param options - Where to listen (default `127.0.0.1`, a free port) and the IdP's options.
 * @returns The server; `close()` it, or hold it with `await using`.
 * @throws MockIdpError `ERR_PORT_IN_USE` when the port is taken; `ERR_INVALID_OPTION` for bad options.
 * @example
 * ```ts
 * import { serve } from '@keyfob/mock-idp'
 *
 * await using server = await serve({ clients: [{ clientId: 'svc', clientSecret: 's3cret' }] })
 * console.log(server.issuer) // http://127.0.0.1:49152
 * ```
 */
export async function serve(options: ServeOptions = {}): Promise<MockIdpServer> {
  const { port = 0, hostname = '127.0.0.1', warn = console.warn, ...idpOptions } = options
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new MockIdpError('ERR_INVALID_OPTION', `port must be an integer 0-65535, got ${String(port)}`)
  }
  const exposed = !isLoopbackHost(hostname)
  const provider = new Provider(
    exposed
      ? {
          ...idpOptions,
          keys: idpOptions.keys ?? 'generate',
          controlToken: idpOptions.controlToken ?? randomToken(32),
        }
      : idpOptions,
  )
  await provider.init()
  const idp = assemble(provider)
  const listener = await listen((request, env) => idp.app.fetch(request, env), port, hostname)
  const host = hostname.includes(':') ? `[${hostname}]` : hostname
  const url = `http://${host}:${listener.port}`
  provider.setIssuer(`${url}${provider.basePath}`)
  if (exposed) {
    warn(
      `mock IdP: WARNING: listening on ${url}, beyond loopback. Anyone who can reach this address can sign in as any test user and mint tokens. ` +
        `Signing keys are ${provider.settings.keys === 'generate' ? 'freshly generated' : 'the BUNDLED DEVELOPMENT KEY (keys: "bundled")'}, ` +
        'and the control plane needs "Authorization: Bearer <control token>" (server.controlToken). Bind 127.0.0.1 unless you need otherwise.',
    )
  }
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= listener.close()
    return closed
  }
  return {
    url,
    get issuer() {
      return provider.issuer
    },
    idp,
    controlToken: provider.settings.controlToken,
    close,
    [Symbol.asyncDispose]: close,
  }
}
