/** Test helpers: form posts, PKCE, decoding. */
import { createMockIdp, type MockClient, type MockIdp, type MockIdpOptions } from '../src/index.ts'

export const PUBLIC: MockClient = {
  clientId: 'cli',
  redirectUris: ['http://127.0.0.1/callback', 'https://app.example/cb'],
}
export const SERVICE: MockClient = { clientId: 'svc', clientSecret: 's3cret-value' }
export const CONFIDENTIAL_WEB: MockClient = {
  clientId: 'web',
  clientSecret: 'web-secret',
  redirectUris: ['https://app.example/cb'],
  postLogoutRedirectUris: ['https://app.example/bye'],
  grantTypes: ['authorization_code', 'refresh_token', 'password', 'client_credentials'],
}

export function idpWith(options: MockIdpOptions = {}): Promise<MockIdp> {
  return createMockIdp({ clients: [PUBLIC, SERVICE, CONFIDENTIAL_WEB], ...options })
}

export function basic(id: string, secret: string): string {
  return `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`
}

export async function post(
  idp: MockIdp,
  path: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return idp.fetch(`${idp.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  })
}

export async function postJson(
  idp: MockIdp,
  path: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
) {
  const response = await post(idp, path, params, headers)
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  }
}

export function b64url(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)))
  const challenge = b64url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
  )
  return { verifier, challenge }
}

export function decodeJwt(jwt: string): {
  header: Record<string, unknown>
  payload: Record<string, unknown>
} {
  const [h, p] = jwt.split('.')
  const dec = (part: string | undefined) =>
    JSON.parse(atob((part ?? '').replaceAll('-', '+').replaceAll('_', '/'))) as Record<string, unknown>
  return { header: dec(h), payload: dec(p) }
}

/** Runs /authorize and returns the redirect's query parameters. */
export async function authorize(idp: MockIdp, params: Record<string, string>): Promise<URLSearchParams> {
  const url = new URL(`${idp.issuer}/authorize`)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  const response = await idp.fetch(url)
  if (response.status !== 302)
    throw new Error(`authorize answered ${response.status}: ${await response.text()}`)
  return new URL(response.headers.get('location') ?? '').searchParams
}

/** A complete code + PKCE login for the public client; returns the token response. */
export async function codeLogin(
  idp: MockIdp,
  extra: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const { verifier, challenge } = await pkce()
  const q = await authorize(idp, {
    response_type: 'code',
    client_id: 'cli',
    redirect_uri: 'http://127.0.0.1:5555/callback',
    scope: 'openid profile email',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st',
    nonce: 'n-1',
    ...extra,
  })
  const { status, body } = await postJson(idp, '/token', {
    grant_type: 'authorization_code',
    client_id: 'cli',
    code: q.get('code') ?? '',
    redirect_uri: 'http://127.0.0.1:5555/callback',
    code_verifier: verifier,
  })
  if (status !== 200) throw new Error(`token answered ${status}: ${JSON.stringify(body)}`)
  return body
}
