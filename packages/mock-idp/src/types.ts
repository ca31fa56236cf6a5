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
   * (`http://127.0.0.1/…`, `http://[::1]/…`) any port matches (RFC 8252 §7.3).
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
}
