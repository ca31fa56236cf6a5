/** The few HTML pages a person (or a browser test) sees: login, device verification, results. @module */
import { escapeHtml } from './util.ts'

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}
button{font:inherit;padding:.5rem 1.2rem;margin:1rem .5rem 0 0;cursor:pointer}.error{color:#b00020}.muted{color:#666;font-size:.9rem}
code{font-size:1.1rem;letter-spacing:.1em}`

/**
 * A complete HTML page with a strict CSP (no scripts at all). `formTarget` is where a form's
 * redirect may lead: browsers apply `form-action` to the redirect after a submission too.
 * @internal
 */
export function page(title: string, body: string, status = 200, formTarget?: string): Response {
  let formAction = "'self'"
  if (formTarget !== undefined) {
    try {
      const url = new URL(formTarget)
      // A private-use scheme (RFC 8252 §7.1) has no origin: allow the scheme.
      formAction += url.origin === 'null' ? ` ${url.protocol}` : ` ${url.origin}`
    } catch {
      // an unparsable target stays blocked
    }
  }
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · keyfob mock IdP</title><style>${STYLE}</style></head><body>
<h1>${escapeHtml(title)}</h1>${body}<p class="muted">keyfob mock IdP — for tests only.</p></body></html>`
  return new Response(html, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'`,
      'x-frame-options': 'DENY',
    },
  })
}

/** The login form of a pending authorization request; its answer redirects to `redirectUri`. @internal */
export function loginPage(
  action: string,
  requestId: string,
  clientName: string,
  redirectUri: string,
  error?: string,
): Response {
  return page(
    'Sign in',
    `<p>Sign in to continue to <strong>${escapeHtml(clientName)}</strong>.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="request_id" value="${escapeHtml(requestId)}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" name="action" value="login">Sign in</button><button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</form>`,
    error ? 401 : 200,
    redirectUri,
  )
}

/** The device verification page (RFC 8628 §3.3): type the user code, sign in, approve or deny. @internal */
export function devicePage(
  action: string,
  userCode: string,
  message?: { text: string; error?: boolean },
): Response {
  return page(
    'Connect a device',
    `<p>Enter the code shown on your device, then sign in to approve it.</p>
${message ? `<p class="${message.error ? 'error' : ''}" role="${message.error ? 'alert' : 'status'}">${escapeHtml(message.text)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
<label for="user_code">Code</label><input id="user_code" name="user_code" value="${escapeHtml(userCode)}" autocomplete="off" required autofocus>
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" name="action" value="approve">Approve</button><button type="submit" name="action" value="deny">Deny</button>
</form>`,
    message?.error ? 400 : 200,
  )
}
