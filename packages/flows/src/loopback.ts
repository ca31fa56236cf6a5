/**
 * The loopback redirect server of RFC 8252 §7.3: where the browser lands after the user logs in.
 * It binds a loopback address only, waits for one redirect, checks `state`, shows the person a
 * short page, and closes itself.
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
  /** The `state` the redirect must carry; a different one is refused with `ERR_STATE_MISMATCH`. */
  readonly expectedState?: string
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
   * @throws KeyfobError `ERR_TIMEOUT`, `ERR_ABORTED`, `ERR_STATE_MISMATCH`
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

  const handler = (request: Request): Response => {
    const url = new URL(request.url)
    if (request.method !== 'GET' || url.pathname !== path || done) {
      return new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain' } })
    }
    const params = url.searchParams
    const html = (body: string, status: number) =>
      new Response(body, {
        status,
        headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
      })
    if (expectedState !== undefined && params.get('state') !== expectedState) {
      finish(() =>
        settle?.reject(
          new KeyfobError(
            'ERR_STATE_MISMATCH',
            'the redirect carried a different state than the authorization request; start the login again',
            {
              cause: { received: params.get('state') },
            },
          ),
        ),
      )
      return html(failureHtml.replaceAll('{error}', 'state mismatch'), 400)
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
          `no redirect to ${redirectUri} within ${timeoutMs / 1000} s; the browser login did not complete`,
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
