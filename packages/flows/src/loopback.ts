/**
 * The loopback redirect server of RFC 8252 §7.3: where the browser lands after the user logs in.
 * It binds a loopback address only, waits for the one redirect that carries the expected `state`,
 * shows the person a short page, and closes itself. Anything else that reaches it (another local
 * process, a web page loading `<img src="http://127.0.0.1:PORT/callback">`, a DNS-rebinding page
 * whose `Host` is not a loopback name) gets an error page and does not end the wait.
 *
 * @module
 */
import { KeyfobError } from '@keyfob/core'
import { defaultListen, type Listen, type Listener } from './listen.ts'

/** Options of {@link startLoopbackServer}. */
export interface LoopbackOptions {
  /** A loopback IP literal to bind (RFC 8252 §8.3): `127.0.0.1` (default) or `::1`. */
  readonly hostname?: string
  /** The port; default 0, a free one. */
  readonly port?: number
  /** The redirect path; default `/callback`. */
  readonly path?: string
  /** How long to wait for the redirect; default 60 000 ms. */
  readonly timeoutMs?: number
  /** Cancels the wait (rejects with `ERR_ABORTED`). */
  readonly signal?: AbortSignal
  /**
   * The `state` the redirect must carry. A request with another (or none) gets an error page and
   * is otherwise ignored: the server keeps waiting for the real redirect until the timeout.
   */
  readonly expectedState?: string
  /** Told about each ignored request (wrong `state`, a non-loopback `Host`), e.g. to log it. */
  readonly onIgnored?: (reason: string) => void
  /** The page shown after a successful redirect. */
  readonly successHtml?: string
  /** The page shown after an error redirect; `{error}` is replaced by the (escaped) error code. */
  readonly failureHtml?: string
  /** The runtime adapter; default the one for the current runtime. */
  readonly listen?: Listen
}

/** A running loopback server. */
export interface LoopbackServer extends AsyncDisposable {
  /** The redirect URI to register and send: `http://127.0.0.1:<port>/callback`. */
  readonly redirectUri: string
  /**
   * Resolves with the redirect's query parameters (a `code` or an `error`) and closes the server.
   *
   * @throws KeyfobError `ERR_TIMEOUT` (the message counts the ignored requests: a wrong-state
   * redirect from a stale tab shows there), `ERR_ABORTED`
   */
  readonly callback: Promise<URLSearchParams>
  /** Closes the server (idempotent); a pending `callback` rejects with `ERR_ABORTED`. */
  close(): Promise<void>
}

const SUCCESS = page('Signed in', 'You are signed in. You can close this tab and return to the terminal.')
const FAILURE = page(
  'Sign-in failed',
  'The sign-in did not complete ({error}). Return to the terminal for details.',
)

function page(title: string, text: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem}</style></head>
<body><h1>${title}</h1><p>${text}</p></body></html>`
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function isLoopback(hostname: string): boolean {
  return hostname === '::1' || /^127(\.\d{1,3}){3}$/.test(hostname)
}

/** Whether a `Host` header names this server by a loopback name (DNS rebinding sends another). */
function loopbackHost(host: string | null, port: number): boolean {
  if (host === null) return false
  const match = /^(\[[0-9a-f:.]+\]|[^:]+)(?::(\d+))?$/i.exec(host.trim())
  if (!match) return false
  const name = (match[1] as string).toLowerCase()
  const bare = name.startsWith('[') ? name.slice(1, -1) : name
  return (isLoopback(bare) || bare === 'localhost') && Number(match[2] ?? 80) === port
}

/**
 * Starts the loopback redirect server and returns its redirect URI at once; `callback` settles
 * with the first request to the redirect path.
 *
 * @param options - Address, path, timeout, expected state, pages, runtime adapter.
 * @returns The server; use `redirectUri` in the authorization request, then await `callback`.
 * @throws KeyfobError `ERR_INSECURE_REDIRECT` for a non-loopback address, `ERR_PORT_IN_USE` for a taken port.
 * @see https://www.rfc-editor.org/rfc/rfc8252#section-7.3
 * @example
 * ```ts
 * import { startLoopbackServer } from '@keyfob/flows'
 *
 * await using server = await startLoopbackServer({ expectedState: state })
 * // open the authorization URL with redirect_uri = server.redirectUri, then:
 * const params = await server.callback // URLSearchParams with code (or error), state, iss
 * ```
 */
export async function startLoopbackServer(options: LoopbackOptions = {}): Promise<LoopbackServer> {
  const {
    hostname = '127.0.0.1',
    port = 0,
    path = '/callback',
    timeoutMs = 60_000,
    signal,
    expectedState,
    successHtml = SUCCESS,
    failureHtml = FAILURE,
    listen = defaultListen(),
  } = options
  if (!isLoopback(hostname)) {
    throw new KeyfobError(
      'ERR_INSECURE_REDIRECT',
      `the redirect server must bind a loopback IP literal (127.0.0.1 or ::1), not ${JSON.stringify(hostname)} (RFC 8252 §8.3)`,
    )
  }
  if (!path.startsWith('/')) throw new TypeError(`path must start with "/", got ${JSON.stringify(path)}`)
  signal?.throwIfAborted()

  let settle: { resolve(params: URLSearchParams): void; reject(error: unknown): void } | undefined
  const callback = new Promise<URLSearchParams>((resolve, reject) => {
    settle = { resolve, reject }
  })
  callback.catch(() => {}) // a caller that never awaits must not see an unhandled rejection
  let done = false

  let ignored = 0
  const html = (body: string, status: number) =>
    new Response(body, {
      status,
      headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
    })
  const ignore = (reason: string, status: number, shown: string): Response => {
    ignored++
    options.onIgnored?.(reason)
    return html(failureHtml.replaceAll('{error}', shown), status)
  }

  const handler = (request: Request): Response => {
    const url = new URL(request.url)
    if (request.method !== 'GET' || url.pathname !== path || done) {
      return new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain' } })
    }
    // A runtime adapter passes the request's Host header; an in-process adapter (a test, the docs
    // playground) builds a Request without one, and its URL names the host instead.
    const host = request.headers.get('host') ?? url.host
    if (!loopbackHost(host, listener.port)) {
      return ignore(`a request for host ${JSON.stringify(host)}, not this loopback server`, 421, 'wrong host')
    }
    const params = url.searchParams
    if (expectedState !== undefined && params.get('state') !== expectedState) {
      return ignore(
        'a redirect whose state is not the one of this login (a stale tab, or not from the provider)',
        400,
        'state mismatch',
      )
    }
    const error = params.get('error')
    finish(() => settle?.resolve(params))
    return error === null
      ? html(successHtml, 200)
      : html(failureHtml.replaceAll('{error}', escapeHtml(error)), 200)
  }

  let listener: Listener
  try {
    listener = await listen(handler, { hostname, port })
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE') {
      throw new KeyfobError(
        'ERR_PORT_IN_USE',
        `port ${port} on ${hostname} is in use; choose another port, or 0 for a free one`,
        {
          cause: error,
        },
      )
    }
    throw error
  }

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    if (!done)
      finish(() =>
        settle?.reject(
          new KeyfobError('ERR_ABORTED', 'the loopback server was closed before the redirect arrived'),
        ),
      )
    return closing ?? Promise.resolve()
  }
  const timer = setTimeout(() => {
    finish(() =>
      settle?.reject(
        new KeyfobError(
          'ERR_TIMEOUT',
          `no redirect to ${redirectUri} within ${timeoutMs / 1000} s; the browser login did not complete${
            ignored > 0
              ? ` (${ignored} request${ignored === 1 ? ' was' : 's were'} ignored: a wrong state or host)`
              : ''
          }`,
          { cause: { ignored } },
        ),
      ),
    )
  }, timeoutMs)
  const onAbort = () =>
    finish(() =>
      settle?.reject(new KeyfobError('ERR_ABORTED', 'the login was cancelled', { cause: signal?.reason })),
    )
  signal?.addEventListener('abort', onAbort, { once: true })

  function finish(outcome: () => void): void {
    if (done) return
    done = true
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
    outcome()
    // Close after the page has been sent: the handler returns first.
    closing = new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => listener.close())
  }

  const host = hostname.includes(':') ? `[${hostname}]` : hostname
  const redirectUri = `http://${host}:${listener.port}${path}`
  return { redirectUri, callback, close, [Symbol.asyncDispose]: close }
}
