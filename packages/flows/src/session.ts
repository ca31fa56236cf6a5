/**
 * `Session`: keeps a user logged in. It answers with a valid access token, or a `fetch` that
 * carries one, refreshing proactively (inside a margin) and reactively (after a 401
 * `invalid_token`), one refresh at a time — within a process, and across processes through the
 * store's lock — and falls back to an interactive login only when no refresh can work.
 *
 * @module
 */
import {
  type ClientEntry,
  checkToken,
  type DPoPKeyRecord,
  dpopRequest,
  type HttpContext,
  KeyfobError,
  resourcesOf,
  type TokenCheck,
  type TokenKey,
  type TokenRecord,
  TokenSet,
  type TokenStore,
} from '@keyfob/core'
import {
  contextOf,
  type DriverOptions,
  driverOptionsOf,
  metadataOf,
  refreshTokens,
  storedKeyHandle,
} from './drivers.ts'
import { renewsByClientCredentials } from './logins.ts'
import {
  outcomeOf,
  type RevocationResult,
  revocableTokens,
  revocationResult,
  revokeRecord,
  type TokenRevocation,
} from './revoke.ts'

type AuthorizationServer = HttpContext['as']
type DPoPHandle = NonNullable<HttpContext['dpop']>

/** Options of {@link Session}. */
export interface SessionOptions extends Omit<DriverOptions, 'metadata'> {
  /** The provider's issuer (discovered once, lazily). */
  readonly issuer: string
  /** The client. */
  readonly client: ClientEntry
  /** Where tokens live; its `lock` makes refreshes single-flight across processes. */
  readonly store: TokenStore
  /** A local account label, for several accounts at one provider. */
  readonly account?: string
  /** Refresh when less than this much time is left; default 60 000 ms. */
  readonly refreshMarginMs?: number
  /**
   * The interactive login to fall back on when there is no usable refresh token, e.g.
   * `(o) => deviceLogin(o)`. Without one, such a session fails with `ERR_LOGIN_REQUIRED`.
   */
  readonly login?: (options: DriverOptions) => Promise<TokenSet>
  /** The origins {@link Session.fetch} may send the bearer to (e.g. `https://api.example`). */
  readonly apiOrigins?: readonly string[]
  /** The `fetch` for API calls made through {@link Session.fetch}; default the global one. */
  readonly apiFetch?: (request: Request) => Promise<Response>
  /**
   * The `Authorization` header value for an access token; default `Bearer <token>`. openEO
   * APIs want `Bearer oidc/<provider id>/<token>`: see {@link openEoAuthorization}. Not used for
   * a DPoP-bound login, whose requests carry `DPoP <token>` and a proof.
   */
  readonly authorization?: (accessToken: string) => string
  /**
   * Whether an API response says the access token was rejected, which earns one renewal and one
   * retry. Default: RFC 6750, a `401` whose `WWW-Authenticate` challenge carries
   * `error="invalid_token"`. openEO answers `401`/`403` with code `TokenInvalid`: see
   * {@link openEoTokenRejected}.
   */
  readonly tokenRejected?: (response: Response) => boolean | Promise<boolean>
}

/**
 * RFC 6750's signal that an access token was rejected: `401` with `error="invalid_token"`.
 *
 * @param response - The API's response (its body is not read).
 * @returns Whether to renew the token and retry.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @example
 * ```ts
 * if (bearerTokenRejected(response)) await session.accessToken({ minTtlMs: Infinity })
 * ```
 */
export function bearerTokenRejected(response: Response): boolean {
  return (
    response.status === 401 &&
    /(^|[\s,])error\s*=\s*"?invalid_token"?/i.test(response.headers.get('www-authenticate') ?? '')
  )
}

/** Codes after which a refresh cannot work and a new login is the way forward. */
const NEEDS_LOGIN = new Set(['ERR_INVALID_GRANT', 'ERR_NO_REFRESH_TOKEN', 'ERR_UNAUTHORIZED_CLIENT'])

/**
 * A logged-in user at one provider, for one client (and account).
 *
 * **DPoP.** When the stored login has a DPoP key (a login made with `dpop`), {@link Session.fetch}
 * sends `Authorization: DPoP <token>` with a fresh proof per request (`htm`, `htu` without query
 * and fragment, `ath`), keeps each origin's `DPoP-Nonce`, and answers a `use_dpop_nonce`
 * challenge with one retry. Refreshes are signed with the same key. Redirects of such a request
 * are returned, not followed: a proof names one URL.
 *
 * **Tokens per resource.** With `resource` (RFC 8707), the login's access token is for the first
 * resource. `accessToken({ resource })` for another one refreshes with that `resource` and keeps
 * the answer in this session's memory until it nears expiry (a rotated refresh token goes to the
 * store); {@link Session.fetch} picks the configured resource that the request URL starts with.
 *
 * @example
 * ```ts
 * import { deviceLogin, Session } from '@keyfob/flows'
 *
 * const session = new Session({
 *   issuer: 'https://idp.example',
 *   client: { clientId: 'cli' },
 *   store, // a TokenStore from @keyfob/store
 *   login: (options) => deviceLogin(options),
 *   apiOrigins: ['https://api.example'],
 * })
 * const response = await session.fetch('https://api.example/jobs')
 * ```
 */
export class Session {
  readonly #options: SessionOptions
  /** What reaches discovery, the interpreter and the drivers (no store, hooks or API settings). */
  readonly #driverOptions: DriverOptions
  readonly #key: TokenKey
  #metadata: Promise<AuthorizationServer> | undefined
  #renewing: Promise<TokenSet> | undefined
  /** The stored key's handle, kept so its servers' nonces are reused. */
  #dpop: { readonly key: DPoPKeyRecord; readonly handle: Promise<DPoPHandle | undefined> } | undefined
  /** Access tokens for resources other than the login's own, by resource. */
  readonly #byResource = new Map<string, TokenSet>()
  readonly #minting = new Map<string, Promise<TokenSet>>()
  readonly #resources: readonly string[]

  /**
   * @param options - Provider, client, store, fallback login, refresh margin, API origins, DPoP and resource settings for the fallback login.
   * @throws KeyfobError `ERR_INVALID_ARGUMENT` for an API origin that is not an http(s) origin, or a resource that is not an absolute URI without a fragment.
   */
  constructor(options: SessionOptions) {
    for (const origin of options.apiOrigins ?? []) {
      if (!URL.canParse(origin) || !/^https?:$/.test(new URL(origin).protocol)) {
        throw new KeyfobError(
          'ERR_INVALID_ARGUMENT',
          `apiOrigins: ${JSON.stringify(origin)} is not an http(s) origin`,
        )
      }
    }
    this.#resources = resourcesOf(options.resource)
    this.#options = options
    this.#driverOptions = driverOptionsOf(options)
    this.#key = {
      issuer: options.issuer,
      clientId: options.client.clientId,
      ...(options.account !== undefined ? { account: options.account } : {}),
    }
  }

  /** The store key of this session's tokens. */
  get key(): TokenKey {
    return this.#key
  }

  #now(): number {
    return (this.#options.now ?? Date.now)()
  }

  #driver(as: AuthorizationServer): DriverOptions {
    return { ...this.#driverOptions, metadata: as }
  }

  #as(): Promise<AuthorizationServer> {
    this.#metadata ??= metadataOf(this.#driverOptions).catch((error: unknown) => {
      this.#metadata = undefined // a failed discovery is tried again next time
      throw error
    })
    return this.#metadata
  }

  /**
   * A valid access token: the stored one while it has more than the margin left, else a new one
   * (refresh first, then the fallback login). Concurrent callers share one renewal. For a
   * `resource` other than the login's own (its first configured one), a token minted by a refresh
   * that names it (RFC 8707 §2.2), kept in this session's memory. A client-credentials login
   * (no refresh token) asked for all the configured resources at once, so its token serves each.
   *
   * @param options - `minTtlMs`: demand at least this much lifetime (default: the refresh margin); `resource`: the API the token is for.
   * @returns The access token.
   * @throws KeyfobError `ERR_LOGIN_REQUIRED` with no usable refresh token and no fallback login; `ERR_INVALID_TARGET` for a resource the provider refuses; transport and OAuth codes from the provider.
   * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.2
   * @example
   * ```ts
   * const token = await session.accessToken({ minTtlMs: 120_000 })
   * const other = await session.accessToken({ resource: 'https://other-api.example/' })
   * ```
   */
  async accessToken(
    options: { readonly minTtlMs?: number; readonly resource?: string } = {},
  ): Promise<string> {
    return (await this.#tokens(options)).accessToken as string
  }

  /** The token set for a resource (the login's own when none or the first is named). */
  async #tokens(options: { readonly minTtlMs?: number; readonly resource?: string }): Promise<TokenSet> {
    const margin = options.minTtlMs ?? this.#options.refreshMarginMs ?? 60_000
    if (options.resource !== undefined && options.resource !== this.#resources[0])
      return this.#forResource(resourcesOf(options.resource)[0] as string, margin)
    const stored = await this.#options.store.get(this.#key)
    if (stored && !TokenSet.fromRecord(stored).expiresWithin(this.#now(), margin))
      return TokenSet.fromRecord(stored)
    return this.#renew(stored?.accessToken, margin)
  }

  /** A token for another resource: from memory, else one refresh naming it (one at a time per resource). */
  async #forResource(resource: string, marginMs: number): Promise<TokenSet> {
    const cached = this.#byResource.get(resource)
    if (cached && !cached.expiresWithin(this.#now(), marginMs)) return cached
    let minting = this.#minting.get(resource)
    if (minting === undefined) {
      minting = this.#mint(resource, marginMs).finally(() => this.#minting.delete(resource))
      this.#minting.set(resource, minting)
    }
    return minting
  }

  async #mint(resource: string, marginMs: number): Promise<TokenSet> {
    // The login first: it may need the fallback login or a refresh of its own.
    const own = await this.#tokens({})
    // A client-credentials login asks for all the configured resources at once (RFC 8707 §2.2),
    // so its token is for each of them; it has no refresh token to mint another with.
    if (this.#resources.includes(resource) && renewsByClientCredentials(own.record, this.#options.client))
      return own.expiresWithin(this.#now(), marginMs) ? this.#tokens({ minTtlMs: marginMs }) : own
    const as = await this.#as()
    let minted: TokenSet | undefined
    await this.#options.store.update(this.#key, async (current) => {
      if (current?.refreshToken === undefined)
        throw new KeyfobError(
          'ERR_LOGIN_REQUIRED',
          `no refresh token for ${this.#options.client.clientId} at ${this.#options.issuer} to get a token for ${resource} with; log in again`,
          { cause: { resource } },
        )
      minted = await refreshTokens({
        ...this.#driver(as),
        resource: [resource],
        record: current,
        dpopHandle: await this.#handle(current.dpopKey),
      })
      // The store keeps the login's own access token; the refresh token may have rotated.
      const next = minted.record
      return {
        ...current,
        ...(next.refreshToken !== undefined ? { refreshToken: next.refreshToken } : {}),
        ...(next.refreshExpiresAt !== undefined ? { refreshExpiresAt: next.refreshExpiresAt } : {}),
        updatedAt: next.updatedAt,
      }
    })
    const tokens = minted as unknown as TokenSet
    this.#byResource.set(resource, tokens)
    return tokens
  }

  /** The handle of the stored DPoP key, made once per key. */
  #handle(key: DPoPKeyRecord | undefined): Promise<DPoPHandle | undefined> {
    if (key === undefined) return Promise.resolve(undefined)
    if (this.#dpop?.key.jwk.d !== key.jwk.d)
      this.#dpop = { key, handle: storedKeyHandle(key, this.#options.now) }
    return (this.#dpop as { handle: Promise<DPoPHandle | undefined> }).handle
  }

  /** One renewal at a time in this process; the store lock makes it one across processes. */
  #renew(failedToken: string | undefined, marginMs: number): Promise<TokenSet> {
    this.#renewing ??= this.#renewOnce(failedToken, marginMs).finally(() => {
      this.#renewing = undefined
    })
    return this.#renewing
  }

  async #renewOnce(failedToken: string | undefined, marginMs: number): Promise<TokenSet> {
    const as = await this.#as()
    const refreshed = await this.#options.store.lock(this.#key, async () => {
      // Another process may have renewed while we waited for the lock.
      const current = await this.#options.store.get(this.#key)
      if (current?.accessToken !== undefined && current.accessToken !== failedToken) {
        const tokens = TokenSet.fromRecord(current)
        if (!tokens.expiresWithin(this.#now(), marginMs)) return tokens
      }
      if (current?.refreshToken === undefined || TokenSet.fromRecord(current).refreshExpired(this.#now()))
        return undefined
      try {
        const next = await refreshTokens({
          ...this.#driver(as),
          record: current,
          dpopHandle: await this.#handle(current.dpopKey),
        })
        await this.#options.store.set(this.#key, next.toRecord())
        return next
      } catch (error) {
        if (error instanceof KeyfobError && NEEDS_LOGIN.has(error.code)) return undefined
        throw error
      }
    })
    if (refreshed) return refreshed
    return this.#loginAndStore(as)
  }

  async #loginAndStore(as: AuthorizationServer): Promise<TokenSet> {
    if (!this.#options.login) {
      throw new KeyfobError(
        'ERR_LOGIN_REQUIRED',
        `no valid refresh token for ${this.#options.client.clientId} at ${this.#options.issuer}; log in again (e.g. keyfob login)`,
        { cause: { issuer: this.#options.issuer, clientId: this.#options.client.clientId } },
      )
    }
    // The interactive part runs outside the lock: it can take minutes.
    const tokens = await this.#options.login(this.#driver(as))
    await this.#options.store.lock(this.#key, () => this.#options.store.set(this.#key, tokens.toRecord()))
    return tokens
  }

  /**
   * `fetch` with the access token, for the configured API origins only: a request to any other
   * origin goes out untouched. A response that says the token was rejected (by default a `401`
   * whose challenge says `invalid_token`) triggers one renewal and one retry. A DPoP-bound login
   * sends `DPoP <token>` and a fresh proof per request, and retries once on `use_dpop_nonce`
   * (see the class notes). The token is the one for the configured resource the URL starts with,
   * else the login's own.
   *
   * @param input - The URL or request.
   * @param init - Request options. The body is read once and kept, so the retry after a renewal and a 307/308 redirect can send it again.
   * @returns The API's response.
   * @throws KeyfobError as {@link Session.accessToken} does.
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
   * @example
   * ```ts
   * const jobs = await (await session.fetch('https://api.example/jobs')).json()
   * ```
   */
  async fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const send = this.#options.apiFetch ?? ((request: Request) => fetch(request))
    const template = new Request(input, init)
    if (!this.#allowed(template.url)) return send(template)
    // A Blob, not an ArrayBuffer: fetch can send it again when the API redirects with 307/308
    // (Node 20 fails on a replayed ArrayBuffer: "detached ArrayBuffer").
    const body = template.body === null ? undefined : await template.blob()
    const authorization = this.#options.authorization ?? ((token: string) => `Bearer ${token}`)
    const rejected = this.#options.tokenRejected ?? bearerTokenRejected
    const resource = this.#resourceFor(template.url)
    const tokens = await this.#tokens(resource === undefined ? {} : { resource })
    const dpop = await this.#handle(tokens.record.dpopKey)
    const bytes = dpop && body !== undefined ? new Uint8Array(await body.arrayBuffer()) : undefined
    const attempt = (token: string) => {
      if (dpop)
        return dpopRequest(dpop, token, template, {
          fetch: send,
          ...(bytes !== undefined ? { body: bytes } : {}),
          ...(this.#options.allowInsecure !== undefined
            ? { allowInsecure: this.#options.allowInsecure }
            : {}),
        })
      const headers = new Headers(template.headers)
      headers.set('authorization', authorization(token))
      return send(new Request(template, { headers, ...(body !== undefined ? { body } : {}) }))
    }
    const token = tokens.accessToken as string
    const response = await attempt(token)
    // A custom test may read the body, so it gets a copy; the default reads headers only.
    const probe = this.#options.tokenRejected ? response.clone() : response
    const isRejected = await rejected(probe)
    // A tee's branch cancels for real only once both branches are done: never await one alone.
    if (probe !== response) void probe.body?.cancel().catch(() => {})
    if (!isRejected) return response
    void response.body?.cancel().catch(() => {})
    if (resource !== undefined && resource !== this.#resources[0]) {
      this.#byResource.delete(resource)
      return attempt((await this.#tokens({ resource })).accessToken as string)
    }
    const renewed = await this.#renew(token, this.#options.refreshMarginMs ?? 60_000)
    return attempt(renewed.accessToken as string)
  }

  /** The configured resource a URL belongs to: the longest one it starts with. */
  #resourceFor(url: string): string | undefined {
    let best: string | undefined
    for (const r of this.#resources)
      if (url.startsWith(r) && (best === undefined || r.length > best.length)) best = r
    return best
  }

  #allowed(url: string): boolean {
    const origin = new URL(url).origin
    return (this.#options.apiOrigins ?? []).some((allowed) => new URL(allowed).origin === origin)
  }

  /**
   * Checks the login online: gets a valid access token (renewing it when needed, as
   * {@link Session.accessToken} does) and asks the provider whether it accepts it, at its userinfo
   * endpoint or by introspection.
   *
   * @returns Whether the provider accepts the token, how that was found, and the subject.
   * @throws KeyfobError as {@link Session.accessToken} does; `ERR_UNSUPPORTED` when the provider offers no way to check; transport codes.
   * @example
   * ```ts
   * const { active } = await session.check()
   * ```
   */
  async check(): Promise<TokenCheck> {
    const tokens = await this.#tokens({})
    const dpop = await this.#handle(tokens.record.dpopKey)
    return checkToken(
      { ...contextOf(await this.#as(), this.#driverOptions), ...(dpop ? { dpop } : {}) },
      tokens.accessToken as string,
    )
  }

  /**
   * Logs out: revokes the refresh token (and so, on most providers, its grant) and the access
   * token at the provider (RFC 7009), then removes the tokens from the store, also when revocation
   * fails or the provider cannot be reached.
   *
   * @returns Each token's outcome (`revoked`, `refused` with the provider's answer, `unreachable`,
   * `unsupported`), whether the record was removed, and `revoked: true` only when there was
   * something to revoke and the provider confirmed all of it.
   * @see https://www.rfc-editor.org/rfc/rfc7009
   * @example
   * ```ts
   * const { revoked, tokens } = await session.logout()
   * for (const t of tokens) if (t.outcome !== 'revoked') console.warn(`${t.token}: ${t.outcome} (${t.message})`)
   * ```
   */
  async logout(): Promise<RevocationResult> {
    const record: TokenRecord | undefined = await this.#options.store.get(this.#key)
    let tokens: TokenRevocation[] = []
    try {
      if (record) tokens = await revokeRecord(contextOf(await this.#as(), this.#driverOptions), record)
    } catch (error) {
      // Discovery failed: nothing could be sent.
      tokens = revocableTokens(record).map(([, token]) => ({ token, ...outcomeOf(error) }))
    } finally {
      // The DPoP key goes with the tokens: it is part of the record.
      await this.#options.store.lock(this.#key, () => this.#options.store.delete(this.#key))
      this.#byResource.clear()
      this.#dpop = undefined
    }
    return revocationResult(tokens, record !== undefined)
  }
}
