/**
 * A person with a browser, for oidc-provider's login and consent pages (its devInteractions):
 * follows redirects, keeps cookies, fills and submits forms. Node-only (`getSetCookie`).
 *
 * @module
 */

/** A person with a browser: follows redirects, keeps cookies, fills and submits forms. */
export function person(fields: Record<string, string>) {
  const cookies = new Map<string, string>()
  const get = async (url: string, init: RequestInit = {}): Promise<{ url: string; response: Response }> => {
    let current = url
    let request = init
    for (let hops = 0; hops < 20; hops++) {
      const response = await fetch(current, {
        ...request,
        redirect: 'manual',
        headers: {
          ...(request.headers as Record<string, string>),
          cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        },
      })
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const at = pair?.indexOf('=') ?? -1
        if (pair && at > 0) cookies.set(pair.slice(0, at), pair.slice(at + 1))
      }
      const location = response.headers.get('location')
      if (response.status < 300 || response.status >= 400 || !location) return { url: current, response }
      await response.body?.cancel()
      current = new URL(location, current).href
      request = {}
      // The loopback redirect is the client's: deliver it and stop.
      if (current.includes('/callback')) return { url: current, response: await fetch(current) }
    }
    throw new Error('too many redirects')
  }
  /** Submits every form on the way until a page without one (or the client's redirect). */
  const walk = async (start: string): Promise<string> => {
    let { url, response } = await get(start)
    for (let pages = 0; pages < 10; pages++) {
      if (url.includes('/callback')) return url
      const html = await response.text()
      const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/.exec(html)
      if (!form) return url
      const body = new URLSearchParams()
      for (const input of (form[2] ?? '').matchAll(/<input[^>]*>/g)) {
        const name = /name="([^"]+)"/.exec(input[0])?.[1]
        if (!name) continue
        body.set(name, fields[name] ?? /value="([^"]*)"/.exec(input[0])?.[1] ?? '')
      }
      ;({ url, response } = await get(new URL(form[1] ?? '', url).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      }))
    }
    throw new Error('too many forms')
  }
  return { walk }
}
