/** The Node runtime: node:http streaming forwarder, graceful shutdown, node:cluster workers. @module */
import cluster from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import {
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type RequestOptions,
  type Server,
} from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { announce, settingsOf, startFailure, startMessage, untilSignal } from './cli.ts'
import type { GatewaySettings } from './config.ts'
import { cedarEngine, createGateway, type Gateway } from './gateway.ts'
import { ALREADY_SENT, type NodeBindings, nodeListener } from './listener.ts'
import { endToEndRaw, type Forwarder, timeoutError, unreachableError } from './proxy.ts'

/**
 * A {@link Forwarder} over `node:http`: the client's request stream is piped to the upstream and
 * the upstream's response piped back, with Node's backpressure and a keep-alive agent, so memory
 * stays flat whatever the body size and compressed bodies pass untouched. The wait for response
 * headers is one timer the forwarder holds (no abort signals). Used by {@link serveNode}; it
 * needs the bindings its listener passes (`c.env.incoming`, `c.env.outgoing`, as
 * `@hono/node-server` passes them too) and must not be used elsewhere.
 *
 * @param agentOptions - Sockets per upstream host; default 256.
 * @returns The forwarder.
 * @example
 * ```ts
 * import { createGateway, loadConfig, nodeForwarder } from '@keyfob/gateway'
 *
 * const loaded = loadConfig({ argv: ['--upstream', 'http://127.0.0.1:5000', '--allow-unauthenticated'], env: {} })
 * if (!loaded.help) createGateway(loaded.settings, { forward: nodeForwarder() })
 * ```
 */
export function nodeForwarder(agentOptions: { readonly maxSockets?: number } = {}): Forwarder {
  const options = { keepAlive: true, maxSockets: agentOptions.maxSockets ?? 256 }
  const agents = { http: new HttpAgent(options), https: new HttpsAgent(options) }
  // The upstream is parsed once; its request options are computed once per upstream URL.
  let target: URL | undefined
  let base: RequestOptions = {}
  let host = ''
  let send: typeof httpRequest = httpRequest
  return (c, request) =>
    new Promise<Response>((resolve, reject) => {
      const { incoming, outgoing } = c.env as NodeBindings
      if (request.upstream !== target) {
        target = request.upstream
        const https = target.protocol === 'https:'
        send = https ? httpsRequest : httpRequest
        base = {
          protocol: target.protocol,
          hostname: target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname,
          port: target.port === '' ? (https ? 443 : 80) : Number(target.port),
          agent: https ? agents.https : agents.http,
        }
        // What Node would send as Host (the upstream's host, its port unless the default).
        host = target.host
      }
      // Headers as a flat list: Node validates and writes them in one pass, where an object costs
      // a setHeader (and its bookkeeping) per header. A list gets no automatic Host: it is the first.
      const headers: string[] = ['host', host]
      const prepared = request.headers
      for (const name in prepared) {
        const value = prepared[name] as string | readonly string[]
        if (typeof value === 'string') headers.push(name, value)
        else for (const v of value) headers.push(name, v)
      }
      // `waiting` until the upstream answered (`responded`) or the wait ended (`gone`: timed out,
      // failed): an error while waiting is a 502, one after the response began cuts the client's
      // response short, and one after the wait ended (the upstream request destroyed by the
      // timeout: Bun reports that as an error too) must leave the 504 alone.
      let state: 'waiting' | 'responded' | 'gone' = 'waiting'
      const upstream = send({ ...base, method: request.method, path: request.path, headers })
      const timer = setTimeout(() => {
        if (state !== 'waiting') return
        state = 'gone'
        upstream.destroy()
        reject(timeoutError(request.timeoutMs))
      }, request.timeoutMs)
      upstream.on('error', (error) => {
        clearTimeout(timer)
        if (state === 'responded') outgoing.destroy(error)
        else if (state === 'waiting') {
          state = 'gone'
          reject(unreachableError(error))
        }
      })
      upstream.on('response', (response) => {
        clearTimeout(timer)
        if (state !== 'waiting') {
          response.destroy()
          return
        }
        state = 'responded'
        const headers = endToEndRaw(response.rawHeaders, request.responseHeaders)
        outgoing.writeHead(response.statusCode ?? 502, response.statusMessage, headers)
        response.pipe(outgoing)
        response.on('error', () => outgoing.destroy())
        outgoing.on('close', () => {
          if (!response.complete) response.destroy()
        })
        // Hono sees the status for the access log; the body is already on its way.
        c.set('upstreamStatus' as never, response.statusCode as never)
        resolve(ALREADY_SENT)
      })
      incoming.on('aborted', () => upstream.destroy())
      if (request.method === 'GET' || request.method === 'HEAD') upstream.end()
      else incoming.pipe(upstream)
    })
}

/** Every value of header `name` in `node:http`'s raw list, joined with `, ` as `Headers.get` joins them. */
function rawHeader(raw: readonly string[], name: string): string | undefined {
  const wanted = name.toLowerCase()
  let value: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string
    if (key.length === wanted.length && key.toLowerCase() === wanted) {
      value = value === undefined ? (raw[i + 1] as string) : `${value}, ${raw[i + 1]}`
    }
  }
  return value
}

/** A running Node gateway. */
export interface NodeGateway {
  /** The gateway. */
  readonly gateway: Gateway
  /** The HTTP server. */
  readonly server: Server
  /** The port it listens on (useful with port 0). */
  readonly port: number
  /** Stops accepting connections and resolves when in-flight requests are done (or the grace ran out). */
  close(): Promise<void>
}

/**
 * Serves a gateway on Node with {@link nodeForwarder}: binds `settings.hostname` (default
 * `127.0.0.1`) and `settings.port`.
 *
 * @param settings - From {@link loadConfig}.
 * @param options - `log`: where access-log lines go (default stdout).
 * @returns The running gateway, once it listens.
 * @throws GuardError for a setting the guard refuses; a listen error (`EADDRINUSE`) as Node raises it.
 * @example
 * ```ts
 * import { loadConfig, serveNode } from '@keyfob/gateway'
 *
 * const loaded = loadConfig({ argv: ['--upstream', 'http://127.0.0.1:5000', '--allow-unauthenticated', '--port', '0'], env: {} })
 * if (!loaded.help) {
 *   const running = await serveNode(loaded.settings)
 *   await running.close()
 * }
 * ```
 */
export async function serveNode(
  settings: GatewaySettings,
  options: { readonly log?: (line: string) => void } = {},
): Promise<NodeGateway> {
  const cedar = await cedarEngine(settings, (path) => readFileSync(path, 'utf8'))
  const gateway = createGateway(settings, {
    ...(cedar ? { cedar } : {}),
    forward: nodeForwarder(),
    clientAddress: (c) => (c.env as NodeBindings).incoming.socket.remoteAddress,
    clientHeaders: (c) => (c.env as NodeBindings).incoming.headers,
    requestHeader: (c, name) => rawHeader((c.env as NodeBindings).incoming.rawHeaders, name),
    requestTarget: (c) => (c.env as NodeBindings).incoming.url,
    ...(options.log ? { log: options.log } : {}),
  })
  let port = settings.port
  const log = options.log ?? ((line: string) => console.log(line))
  const server = createServer(
    nodeListener(gateway.fetch, {
      defaultHost: () =>
        settings.hostname.includes(':') ? `[${settings.hostname}]:${port}` : `${settings.hostname}:${port}`,
      log: (error) =>
        log(
          JSON.stringify({
            level: 'error',
            message: (error as Error)?.message,
            name: (error as Error)?.name,
          }),
        ),
    }),
  )
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(settings.port, settings.hostname, () => {
      server.off('error', reject)
      resolve()
    })
  })
  port = (server.address() as AddressInfo).port
  return {
    gateway,
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.closeAllConnections()
          resolve()
        }, settings.shutdownTimeoutMs)
        force.unref()
        // Keep-alive connections turn idle as their last response ends: close them as they do.
        const sweep = setInterval(() => server.closeIdleConnections(), 50)
        sweep.unref()
        server.close(() => {
          clearTimeout(force)
          clearInterval(sweep)
          resolve()
        })
        server.closeIdleConnections()
      }),
  }
}

/**
 * The `keyfob-guard` command on Node: loads the settings (flags, environment, files), prints the
 * one startup line to stderr, serves, forks `--workers` processes with node:cluster, and on
 * SIGTERM or SIGINT stops accepting and lets in-flight requests finish.
 *
 * @param argv - The arguments after the program name.
 * @param env - The environment; default `process.env`.
 * @returns The exit code once the server has stopped (0), or 2 for a configuration error.
 * @example
 * ```ts
 * import { main } from '@keyfob/gateway'
 *
 * process.exitCode = await main(process.argv.slice(2))
 * ```
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const loaded = settingsOf(argv, env)
  if ('exit' in loaded) return loaded.exit
  const { settings } = loaded
  if (settings.workers > 1 && cluster.isPrimary) {
    try {
      return await primary(settings)
    } catch (error) {
      return startFailure(error)
    }
  }
  let running: NodeGateway
  try {
    running = await serveNode(settings)
  } catch (error) {
    if (cluster.isWorker && process.send) {
      // The primary prints it once and stops, instead of every worker printing it in a loop.
      const failure: StartFailure = {
        type: START_FAILED,
        message: `keyfob-guard: ${startMessage(error)}`,
        code: startFailure(error, false),
      }
      await new Promise<void>((resolve) => process.send?.(failure, undefined, {}, () => resolve()))
      return failure.code
    }
    return startFailure(error)
  }
  if (cluster.isPrimary) announce(running.gateway.summary, running.port)
  await untilSignal(running.close)
  return 0
}

const START_FAILED = 'keyfob-guard:start-failed'

/** What a worker that could not start tells the primary before it exits. */
interface StartFailure {
  readonly type: typeof START_FAILED
  readonly message: string
  readonly code: number
}

/** The first restart of a crashed worker waits this long; each further crash in a row doubles it. */
const RESTART_DELAY_MS = 100
/** The longest wait before a restart. */
const MAX_RESTART_DELAY_MS = 10_000
/** A worker that ran this long without a crash resets the back-off. */
const STABLE_MS = 30_000

/**
 * The cluster primary: forks the workers, passes SIGTERM on, returns when all have exited. A worker
 * that exits before it ever listened (a port in use, a setting refused) stops the whole command
 * with that worker's error, printed once; one that crashes later is restarted after a delay that
 * doubles with each crash in a row (100 ms up to 10 s).
 */
async function primary(settings: GatewaySettings): Promise<number> {
  const cedar = await cedarEngine(settings, (path) => readFileSync(path, 'utf8'))
  const summary = createGateway(settings, {
    ...(cedar ? { cedar } : {}),
    forward: async () => new Response(null),
  }).summary
  process.stderr.write(`${summary} (${settings.workers} workers)\n`)
  const listened = new Set<number>()
  const startedAt = new Map<number, number>()
  const restarts = new Set<ReturnType<typeof setTimeout>>()
  let crashes = 0
  let stopping = false
  let announced = false
  let failure: { message: string; code: number } | undefined
  // Workers must accept each other's DPoP nonces: without a configured secret they share one.
  const workerEnv =
    settings.dpopNonce && settings.dpopNonceSecret === undefined
      ? { KEYFOB_GUARD_DPOP_NONCE_SECRET: randomBytes(32).toString('base64url') }
      : undefined
  const fork = () => {
    const worker = cluster.fork(workerEnv)
    startedAt.set(worker.id, performance.now())
  }
  for (let i = 0; i < settings.workers; i++) fork()
  return new Promise<number>((resolve) => {
    // The primary holds no socket of its own (the workers' IPC channels do not keep it alive).
    const alive = setInterval(() => {}, 1 << 30)
    const stop = () => {
      stopping = true
      for (const timer of restarts) clearTimeout(timer)
      restarts.clear()
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
    cluster.on('listening', (worker) => {
      listened.add(worker.id)
      // Once, when the first generation is up: the startup line above is written before the forks.
      if (listened.size === settings.workers && !announced) {
        announced = true
        process.stderr.write(`keyfob-guard: ${settings.workers} workers listening\n`)
      }
    })
    cluster.on('message', (_worker, message: Partial<StartFailure> | null) => {
      if (message?.type !== START_FAILED || failure !== undefined) return
      failure = { message: String(message.message), code: Number(message.code) || 1 }
    })
    cluster.on('exit', (worker, code, signal) => {
      const started = startedAt.get(worker.id) ?? performance.now()
      startedAt.delete(worker.id)
      if (!stopping && !listened.has(worker.id)) {
        // It never served: restarting it would fail the same way, in a loop.
        failure ??= {
          message: `keyfob-guard: worker ${worker.process.pid} exited with ${signal ?? code} before it listened`,
          code: 1,
        }
        process.stderr.write(`${failure.message}\n`)
        stop()
      } else if (!stopping && (code !== 0 || signal !== null)) {
        crashes = performance.now() - started > STABLE_MS ? 1 : crashes + 1
        const delay = Math.min(RESTART_DELAY_MS * 2 ** (crashes - 1), MAX_RESTART_DELAY_MS)
        process.stderr.write(
          `keyfob-guard: worker ${worker.process.pid} exited with ${signal ?? code}; starting another in ${delay} ms\n`,
        )
        const timer = setTimeout(() => {
          restarts.delete(timer)
          if (!stopping) fork()
        }, delay)
        restarts.add(timer)
      }
      if (stopping && Object.keys(cluster.workers ?? {}).length === 0) {
        clearInterval(alive)
        resolve(failure?.code ?? 0)
      }
    })
  })
}
