/**
 * A minimal HTTP listener on Node, Deno and Bun, without Node types: what the loopback redirect
 * server needs and nothing more. Pick one explicitly or let {@link defaultListen} choose by
 * runtime.
 *
 * @module
 */

/** Handles one request. */
export type RequestHandler = (request: Request) => Response | Promise<Response>

/** A listening socket. */
export interface Listener {
  /** The bound port (the chosen one when 0 was asked for). */
  readonly port: number
  /** Stops listening and closes open connections. */
  close(): Promise<void>
}

/** Starts listening: the runtime adapter behind the loopback redirect server. */
export type Listen = (
  handler: RequestHandler,
  address: { readonly hostname: string; readonly port: number },
) => Promise<Listener>

/** The error a listener rejects with when the port is taken (`code: 'EADDRINUSE'`). */
export interface AddressInUse extends Error {
  readonly code: 'EADDRINUSE'
}

function addressInUse(port: number, hostname: string, cause: unknown): AddressInUse {
  return Object.assign(new Error(`${hostname}:${port} is already in use`, { cause }), {
    code: 'EADDRINUSE' as const,
  })
}

interface DenoLike {
  serve(
    options: { port: number; hostname: string; onListen?: (addr: unknown) => void },
    handler: RequestHandler,
  ): { readonly addr: { readonly port: number }; shutdown(): Promise<void> }
}

interface BunLike {
  serve(options: { port: number; hostname: string; fetch: RequestHandler }): {
    readonly port: number
    stop(force?: boolean): void
  }
}

interface NodeIncoming {
  readonly method?: string
  readonly url?: string
  readonly headers: Record<string, string | string[] | undefined>
}
interface NodeOutgoing {
  writeHead(status: number, headers: Record<string, string>): void
  end(body?: string | Uint8Array): void
}
interface NodeServer {
  once(event: 'listening' | 'error', listener: (error?: { code?: string }) => void): void
  listen(port: number, hostname: string): void
  address(): { port: number } | string | null
  close(callback?: () => void): void
  closeIdleConnections?(): void
  closeAllConnections?(): void
}
interface NodeHttp {
  createServer(handler: (req: NodeIncoming, res: NodeOutgoing) => void): NodeServer
}

/**
 * Listens with `Deno.serve`.
 *
 * @param handler - Answers each request.
 * @param address - Where to bind.
 * @returns The listener.
 * @throws AddressInUse when the port is taken.
 * @example
 * ```ts
 * const listener = await denoListen(() => new Response('ok'), { hostname: '127.0.0.1', port: 0 })
 * ```
 */
export const denoListen: Listen = async (handler, { hostname, port }) => {
  const deno = (globalThis as { Deno?: DenoLike }).Deno
  if (!deno) throw new TypeError('denoListen needs the Deno runtime')
  try {
    const server = deno.serve({ port, hostname, onListen: () => {} }, handler)
    return { port: server.addr.port, close: () => server.shutdown() }
  } catch (error) {
    if ((error as { name?: string }).name === 'AddrInUse') throw addressInUse(port, hostname, error)
    throw error
  }
}

/**
 * Listens with `Bun.serve`.
 *
 * @param handler - Answers each request.
 * @param address - Where to bind.
 * @returns The listener.
 * @throws AddressInUse when the port is taken.
 * @example
 * ```ts
 * const listener = await bunListen(() => new Response('ok'), { hostname: '127.0.0.1', port: 0 })
 * ```
 */
export const bunListen: Listen = async (handler, { hostname, port }) => {
  const bun = (globalThis as { Bun?: BunLike }).Bun
  if (!bun) throw new TypeError('bunListen needs the Bun runtime')
  try {
    const server = bun.serve({ port, hostname, fetch: handler })
    return {
      port: server.port,
      close: async () => {
        server.stop(true)
      },
    }
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE') throw addressInUse(port, hostname, error)
    throw error
  }
}

/**
 * Listens with `node:http` (loaded on first use, so browsers never see it).
 *
 * @param handler - Answers each request, with its headers (`Host` included); request bodies are not read (the redirect is a GET).
 * @param address - Where to bind.
 * @returns The listener.
 * @throws AddressInUse when the port is taken.
 * @example
 * ```ts
 * const listener = await nodeListen(() => new Response('ok'), { hostname: '127.0.0.1', port: 0 })
 * ```
 */
export const nodeListen: Listen = async (handler, { hostname, port }) => {
  const specifier = 'node:http'
  const http = (await import(specifier)) as NodeHttp
  const server = http.createServer((req, res) => {
    const host = hostname.includes(':') ? `[${hostname}]` : hostname
    const address = server.address()
    const url = new URL(
      req.url ?? '/',
      `http://${host}:${typeof address === 'object' && address ? address.port : port}`,
    )
    Promise.resolve()
      .then(() => {
        const headers = new Headers()
        for (const [name, value] of Object.entries(req.headers)) {
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value)
        }
        return handler(new Request(url, { method: req.method ?? 'GET', headers }))
      })
      .then(async (response) => {
        // One request per connection: the server closes as soon as the page is out.
        const headers: Record<string, string> = { connection: 'close' }
        response.headers.forEach((value, key) => {
          headers[key] = value
        })
        res.writeHead(response.status, headers)
        res.end(new Uint8Array(await response.arrayBuffer()))
      })
      .catch(() => {
        res.writeHead(500, { 'content-type': 'text/plain' })
        res.end('internal error')
      })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve())
    server.once('error', (error) =>
      reject(error?.code === 'EADDRINUSE' ? addressInUse(port, hostname, error) : error),
    )
    server.listen(port, hostname)
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('node:http reported no TCP port')
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections?.()
        // A browser that holds a connection open without a request must not keep us waiting.
        const timer = setTimeout(() => server.closeAllConnections?.(), 1000) as unknown as {
          unref?: () => void
        }
        timer.unref?.()
      }),
  }
}

/**
 * The listener for the runtime this code runs on: Deno, Bun, else Node.
 *
 * @returns {@link denoListen}, {@link bunListen} or {@link nodeListen}.
 * @example
 * ```ts
 * const listen = defaultListen()
 * ```
 */
export function defaultListen(): Listen {
  const g = globalThis as { Deno?: unknown; Bun?: unknown }
  if (g.Deno) return denoListen
  if (g.Bun) return bunListen
  return nodeListen
}
