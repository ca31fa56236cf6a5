/** The public data shapes of the mock IdP: users, clients, options. @module */

/** The grant types the mock IdP implements. */
export type GrantType =
  | 'authorization_code'
  | 'urn:ietf:params:oauth:grant-type:device_code'
  | 'client_credentials'
  | 'password'
  | 'refresh_token'

/** The client authentication methods of RFC 6749 §2.3 and OIDC Core §9 the mock IdP checks. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'

/** The signing algorithms the mock IdP can sign ID tokens and JWT access tokens with. */
export type SigningAlg = 'RS256' | 'ES256' | 'EdDSA'

/** How access tokens look: RFC 9068 JWTs, or opaque strings that only introspection explains. */
export type AccessTokenFormat = 'jwt' | 'opaque'

/** A user who can log in. */
export interface MockUser {
  /** The stable subject identifier (`sub`). */
  readonly sub: string
  /** The login name for the password grant and the login page; defaults to `sub`. */
  readonly username?: string
  /** The password for the password grant and the login page; without one, only headless login works. */
  readonly password?: string
  /**
   * Claims about the user. Standard OIDC claims are released by scope (`profile`, `email`,
   * `address`, `phone`); any other claim is released always.
   */
  readonly claims?: Readonly<Record<string, unknown>>
}

/** A registered client. A client with a `clientSecret` or `jwks` is confidential, else public. */
export interface MockClient {
  /** The `client_id`. */
  readonly clientId: string
  /** The shared secret of a confidential client (`client_secret_basic` / `client_secret_post`). */
  readonly clientSecret?: string
  /** Public keys for `private_key_jwt` client authentication. */
  readonly jwks?: { readonly keys: readonly JsonWebKey[] }
  /**
   * The one authentication method this client must use. Unset: a client with a secret may use
   * `client_secret_basic` or `client_secret_post`, one with `jwks` uses `private_key_jwt`, and a
   * public client uses `none`.
   */
  readonly tokenEndpointAuthMethod?: ClientAuthMethod
  /**
   * Registered redirect URIs, matched exactly; for loopback IP redirect URIs
   * (`http://127.0.0.1/…`, `http://[::1]/…`) any port matches (RFC 8252 §7.3), and for
   * `http://localhost/…` too unless `localhostAnyPort` or `strict.localhostRedirects` says no.
   */
  readonly redirectUris?: readonly string[]
  /** Where `end_session` may send the user back to. */
  readonly postLogoutRedirectUris?: readonly string[]
  /**
   * Grants this client may use. Default: public clients get authorization_code, device_code and
   * refresh_token; confidential clients also client_credentials. `password` is never on by
   * default.
   */
  readonly grantTypes?: readonly GrantType[]
  /** Scopes this client may ask for (default: every scope the IdP supports). */
  readonly scopes?: readonly string[]
  /** The `aud` of access tokens issued to this client (default: the IdP's `audience`). */
  readonly audience?: string | readonly string[]
  /** Overrides the IdP's access-token format for this client. */
  readonly accessTokenFormat?: AccessTokenFormat
  /** Accept PKCE `plain` from this client (refused by default). */
  readonly allowPlainPkce?: boolean
  /** Require PKCE: in authorization requests (default `true` for public clients, else `false`) and, when `true`, in device authorization requests too (optional there by default). */
  readonly requirePkce?: boolean
  /** A human name, shown on the consent page. */
  readonly clientName?: string
  /**
   * Whether a registered `http://localhost/…` redirect URI matches `http://localhost:<any port>/…`
   * (same path and query). Overrides the IdP-wide setting, which is on unless
   * `strict.localhostRedirects` is set.
   */
  readonly localhostAnyPort?: boolean
  /**
   * Whether this client must send a DPoP proof with every token request (RFC 9449 §5.2,
   * `dpop_bound_access_tokens` in registration). Default `false`: a proof is optional, and a
   * request without one gets a `Bearer` token.
   */
  readonly dpopBoundAccessTokens?: boolean
  /**
   * Whether this client's DPoP proofs must carry a server nonce (RFC 9449 §8); a proof without a
   * current one gets `use_dpop_nonce` and a `DPoP-Nonce` header. Overrides `dpop.nonce`; the
   * control plane's `dpop.requireNonce()` overrides both.
   */
  readonly requireDpopNonce?: boolean
  /**
   * Whether this client must push its authorization requests (RFC 9126 §6,
   * `require_pushed_authorization_requests`). Default: the IdP-wide setting.
   */
  readonly requirePushedAuthorizationRequests?: boolean
  /**
   * The resource indicators (RFC 8707) this client may ask for, compared exactly. Default: the
   * IdP's `resources`, or any absolute URI without a fragment when that is unset too.
   */
  readonly resources?: readonly string[]
}

/**
 * Refusals that are the mock IdP's own choice rather than an RFC's MUST. Each is off by default,
 * so the IdP is as tolerant as mainstream providers (Keycloak, Auth0, Entra, oidc-provider) and
 * real clients work unchanged; turn one on to test that a client copes with the strict variant.
 * An error caused by one names it.
 */
export interface MockIdpStrictness {
  /**
   * Refuse (`invalid_scope`) a request for a scope the client may not have, `openid` on the client
   * credentials grant, or a refresh asking for more than was granted. Default `false`: grant the
   * allowed subset and report the granted `scope` in the token response (RFC 6749 §3.3).
   */
  readonly scopes?: boolean
  /**
   * Answer `slow_down` to a device poll that arrives even 1 ms before the interval. Default
   * `false`: a poll up to {@link MockIdpOptions.devicePollToleranceMs} early counts as on time, so a
   * client polling on a fixed timer (Go's x/oauth2) is not slowed down by network jitter.
   */
  readonly devicePolling?: boolean
  /**
   * Match `http://localhost` redirect URIs exactly, port included: RFC 8252 §7.3 requires any-port
   * matching only for loopback IP literals and calls `localhost` NOT RECOMMENDED. Default `false`:
   * any port matches, as mainstream providers do (the openEO client redirects to
   * `http://localhost:<random port>/callback`). A client's `localhostAnyPort` overrides this.
   */
  readonly localhostRedirects?: boolean
  /**
   * Refuse (`invalid_target`) a resource indicator with a query component, which RFC 8707 §2 says
   * SHOULD NOT be sent. Default `false`: such a resource is accepted like any other absolute URI.
   */
  readonly resources?: boolean
}

/** DPoP (RFC 9449) at the token endpoint. */
export interface MockIdpDpopOptions {
  /**
   * Require a server nonce (RFC 9449 §8) in every client's DPoP proofs; default `false`. A
   * client's `requireDpopNonce` overrides it, and `control.dpop.requireNonce()` overrides both.
   */
  readonly nonce?: boolean
  /** How long one server nonce is handed out, in seconds; the previous one stays good as long again. Default 300. */
  readonly nonceLifetimeS?: number
  /**
   * How far a proof's `iat` may lie in the past or future on the IdP's clock, in seconds; default
   * 300. A proof's `jti` is remembered for twice this long, so a replay within the window fails.
   */
  readonly proofWindowS?: number
}

/**
 * Upper bounds of the IdP's state, so a long test run cannot exhaust memory. Expired entries are
 * pruned on the mock clock; when a map is full, its oldest entry is evicted (a token evicted this
 * way stops being valid, like one the IdP forgot).
 */
export interface MockIdpLimits {
  /** Access-token records; default 100 000. */
  readonly accessTokens?: number
  /** Refresh-token records (active, rotated and revoked); default 100 000. */
  readonly refreshTokens?: number
  /** Grants (one per login or user token issuance); default 100 000. */
  readonly grants?: number
  /** Authorization codes; default 10 000. */
  readonly codes?: number
  /** Device authorizations (with their user codes); default 10 000. */
  readonly devices?: number
  /** Login-form requests waiting for a user; default 10 000. */
  readonly pendingLogins?: number
  /** Used `private_key_jwt` assertion ids (replay protection); default 10 000. */
  readonly assertions?: number
  /** Used DPoP proof ids (replay protection); default 100 000. */
  readonly dpopProofs?: number
  /** Pushed authorization requests (RFC 9126) not yet used; default 10 000. */
  readonly requestUris?: number
}

/** Lifetimes, in seconds. */
export interface MockIdpLifetimes {
  /** Access tokens; default 3600. */
  readonly accessTokenS?: number
  /** ID tokens; default 3600. */
  readonly idTokenS?: number
  /** Refresh tokens; default 30 days. */
  readonly refreshTokenS?: number
  /** Authorization codes; default 60. */
  readonly authorizationCodeS?: number
  /** Device codes; default 600. */
  readonly deviceCodeS?: number
  /** Pushed authorization requests' `request_uri` (RFC 9126 §2.2); default 60. */
  readonly requestUriS?: number
}

/** Options of {@link createMockIdp}. Every field is optional. */
export interface MockIdpOptions {
  /**
   * The issuer identifier. Default `https://mock-idp.test`, which works with the in-process
   * `fetch` (no socket, so no TLS). `serve()` sets it to the real address.
   */
  readonly issuer?: string
  /** Users; default one user, `alice` (password `alice`). */
  readonly users?: readonly MockUser[]
  /** Registered clients; default none. */
  readonly clients?: readonly MockClient[]
  /** The user that headless `authorize` logs in when no `login_hint` names one (default: the first user). */
  readonly defaultUser?: string
  /**
   * `headless` (default): `authorize` logs a user in and redirects at once. `form`: it shows the
   * login page. A request with `prompt=login` always shows the page.
   */
  readonly login?: 'headless' | 'form'
  /** The signing algorithm for ID tokens and JWT access tokens; default RS256. */
  readonly signingAlg?: SigningAlg
  /**
   * `bundled` (default): RS256 starts with the package's fixed development key, other algorithms
   * with a fresh key. `generate`: always a fresh key.
   */
  readonly keys?: 'bundled' | 'generate'
  /** Access-token format; default `jwt`. */
  readonly accessTokenFormat?: AccessTokenFormat
  /** The default `aud` of access tokens; default the issuer. */
  readonly audience?: string | readonly string[]
  /** Scopes the IdP supports; default `openid profile email offline_access`. */
  readonly scopes?: readonly string[]
  /** Lifetimes in seconds. */
  readonly lifetimes?: MockIdpLifetimes
  /** The device-flow polling interval the IdP asks for, in seconds; default 5. */
  readonly deviceIntervalS?: number
  /** Rotate refresh tokens on use (default `true`); reuse of a rotated token revokes its family. */
  readonly rotateRefreshTokens?: boolean
  /** Dynamic client registration (RFC 7591); default `true`. */
  readonly registration?: boolean
  /** The path prefix of the HTTP control plane, or `false` to switch it off; default `/_control`. */
  readonly controlPrefix?: string | false
  /** How many journal entries to keep (oldest dropped first); default 10 000. */
  readonly journalLimit?: number
  /**
   * `true` turns on every refusal of {@link MockIdpStrictness}; an object turns on some. Default:
   * all off (tolerant where the RFCs allow it).
   */
  readonly strict?: boolean | MockIdpStrictness
  /**
   * How much earlier than the interval a device poll may arrive and still count as on time, in
   * milliseconds; default 500. Ignored when `strict.devicePolling` is on.
   */
  readonly devicePollToleranceMs?: number
  /** Caps on the IdP's state maps (see {@link MockIdpLimits}). */
  readonly limits?: MockIdpLimits
  /**
   * A secret the HTTP control plane requires as `Authorization: Bearer <token>`. Default: none on
   * loopback; `serve()` generates one when it binds a non-loopback address. A request with the
   * right token may use any `Host`; without one only loopback hosts and the issuer's host are
   * accepted. Requests carrying an `Origin` header (browsers) are always refused.
   */
  readonly controlToken?: string
  /** DPoP (RFC 9449): server nonces and the proof `iat` window. DPoP itself is always on. */
  readonly dpop?: MockIdpDpopOptions
  /**
   * Accept authorization requests only through the PAR endpoint (RFC 9126 §5,
   * `require_pushed_authorization_requests`); default `false`. A client's
   * `requirePushedAuthorizationRequests` overrides it.
   */
  readonly requirePushedAuthorizationRequests?: boolean
  /**
   * The resource indicators (RFC 8707) clients may ask for, compared exactly (a client's
   * `resources` overrides it). Default: any absolute URI without a fragment.
   */
  readonly resources?: readonly string[]
}
