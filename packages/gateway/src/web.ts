/** The Deno and Bun runtimes: their own HTTP servers, the `fetch` forwarder, graceful shutdown. @module */
import { readFileSync } from 'node:fs'
import { announce, settingsOf, startFailure, untilSignal } from './cli.ts'
import type { GatewaySettings } from './config.ts'
import { GatewayError } from './errors.ts'
import { cedarEngine, createGateway, type Gateway } from './gateway.ts'
import { fetchForwarder } from './proxy.ts'

type Handler = (request: Request, info?: unknown) => Response | Promise<Response>

interface DenoLike {
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
    handler: Handler,
  ): { readonly addr: { readonly port: number }; shutdown(): Promise<void> }
  addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void
}

interface BunServer {
  readonly port: number
  stop(closeActiveConnections?: boolean): Promise<void> | void
  requestIP(request: Request): { address: string } | null
}

interface BunLike {
  serve(options: {
    port: number
    hostname: string
    fetch: (request: Request, server: BunServer) => Response | Promise<Response>
    idleTimeout?: number
  }): BunServer
}

/** A gateway served by Deno or Bun. */
export interface WebGateway {
  /** The gateway. */
  readonly gateway: Gateway
  /** The port it listens on. */
  readonly port: number
  /** Stops accepting connections; resolves when in-flight requests are done. */
  close(): Promise<void>
}

/**
 * Serves a gateway with `Deno.serve` or `Bun.serve` (whichever runtime this is), forwarding with
 * {@link fetchForwarder}. Binds `settings.hostname` (default `127.0.0.1`).
 *
 * @param settings - From {@link loadConfig}.
 * @param options - `log`: where access-log lines go (default stdout).
 * @returns The running gateway.
 * @throws GatewayError `ERR_USAGE` outside Deno and Bun (use {@link serveNode} on Node).
 * @example
 * ```ts
 * import { loadConfig, serveWeb } from '@keyfob/gateway'
 *
 * const loaded = loadConfig({ argv: ['--upstream', 'http://127.0.0.1:5000', '--allow-unauthenticated'], env: {} })
 * if (!loaded.help) await serveWeb(loaded.settings)
 * ```
 */
export async function serveWeb(
  settings: GatewaySettings,
  options: { readonly log?: (line: string) => void } = {},
): Promise<WebGateway> {
  const runtime = globalThis as { Deno?: DenoLike; Bun?: BunLike }
  const clients = new WeakMap<Request, string>()
  const cedar = await cedarEngine(settings, (path) => readFileSync(path, 'utf8'))
  const gateway = createGateway(settings, {
    ...(cedar ? { cedar } : {}),
    forward: fetchForwarder(),
    clientAddress: (c) => clients.get(c.req.raw),
    ...(options.log ? { log: options.log } : {}),
  })
  if (runtime.Deno) {
    const server = runtime.Deno.serve(
      { port: settings.port, hostname: settings.hostname, onListen: () => {} },
      (request, info) => {
        const remote = (info as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr?.hostname
        if (remote) clients.set(request, remote)
        return gateway.fetch(request)
      },
    )
    return { gateway, port: server.addr.port, close: () => server.shutdown() }
  }
  if (runtime.Bun) {
    const server = runtime.Bun.serve({
      port: settings.port,
      hostname: settings.hostname,
      idleTimeout: 0,
      fetch: (request, srv) => {
        const remote = srv.requestIP(request)?.address
        if (remote) clients.set(request, remote)
        return gateway.fetch(request)
      },
    })
    return {
      gateway,
      port: server.port,
      close: async () => {
        await server.stop(false)
      },
    }
  }
  throw new GatewayError(
    'ERR_USAGE',
    'serveWeb runs on Deno or Bun; on Node use serveNode (or the keyfob-guard bin)',
  )
}

/**
 * The `keyfob-guard` command on Deno and Bun: the same flags, environment and files as on Node
 * (`--workers` is Node-only), one startup line on stderr, graceful stop on SIGTERM or SIGINT.
 *
 * @param argv - The arguments after the program name.
 * @param env - The environment; default `process.env`.
 * @returns 0 once stopped, 2 for a configuration error.
 * @example
 * ```ts
 * import { webMain } from '@keyfob/gateway'
 *
 * // deno run -A main.ts --upstream http://127.0.0.1:5000 --allow-unauthenticated
 * const code = await webMain(['--upstream', 'http://127.0.0.1:5000', '--allow-unauthenticated'])
 * ```
 */
export async function webMain(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const loaded = settingsOf(argv, env, (settings) => {
    if (settings.workers > 1) {
      throw new GatewayError(
        'ERR_USAGE',
        '--workers is Node-only (node:cluster); on Deno or Bun run one process per core behind a load balancer',
      )
    }
  })
  if ('exit' in loaded) return loaded.exit
  let running: WebGateway
  try {
    running = await serveWeb(loaded.settings)
  } catch (error) {
    return startFailure(error)
  }
  announce(running.gateway.summary, running.port)
  await untilSignal(running.close)
  return 0
}
