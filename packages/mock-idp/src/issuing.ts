/**
 * Issuing and recognising tokens: access tokens (RFC 9068 JWT or opaque), refresh tokens, ID
 * tokens with the claims a scope releases (OIDC Core §5.4), and the checks that tell a live token
 * from an expired, revoked or foreign one. @internal
 *
 * @module
 */
import { type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import type { Provider } from './provider.ts'
import type { AccessRecord, Grant } from './state.ts'
import type { MockClient, MockUser } from './types.ts'
import { halfHash, randomToken } from './util.ts'

const STANDARD_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
}
const SCOPED_CLAIMS = new Set(Object.values(STANDARD_CLAIMS).flat())
/** Claims the IdP owns in its tokens; user claims and overrides never replace them in ID tokens. */
const PROTECTED_ID_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'azp',
  'at_hash',
])

/** Every claim the IdP may put in an ID token or userinfo answer, for discovery. */
export const SUPPORTED_CLAIMS: readonly string[] = [...PROTECTED_ID_CLAIMS, ...SCOPED_CLAIMS]

/** Per-test claim overrides. */
export interface ClaimOverrides {
  /** Merged into JWT access tokens (and introspection answers). */
  readonly accessToken?: Readonly<Record<string, unknown>>
  /** Merged into ID tokens (protected claims like `iss`, `sub`, `nonce` are not replaced). */
  readonly idToken?: Readonly<Record<string, unknown>>
  /** Merged into userinfo answers. */
  readonly userinfo?: Readonly<Record<string, unknown>>
}

/** The token endpoint's success body (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string
  /** `DPoP` when the access token is bound to the request's DPoP key (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  scope?: string
  refresh_token?: string
  id_token?: string
}

/** Claims of a user released for `scope` (OIDC Core §5.4). */
export function releasedClaims(
  user: MockUser | undefined,
  scope: readonly string[],
): Record<string, unknown> {
  if (!user?.claims) return {}
  const allowed = new Set(scope.flatMap((s) => STANDARD_CLAIMS[s] ?? []))
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(user.claims)) {
    if (!SCOPED_CLAIMS.has(name) || allowed.has(name)) out[name] = value
  }
  return out
}

/** Signs claims with the active key. */
export async function signJwt(p: Provider, payload: JWTPayload, typ: string): Promise<string> {
  const key = p.keys.active
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ }).sign(key.privateKey)
}

/**
 * Issues an access token (and optionally refresh and ID tokens) for a grant, and answers the
 * token endpoint's success body (RFC 6749 §5.1).
 */
export async function issueTokens(
  p: Provider,
  input: {
    readonly client: MockClient
    readonly grant: Grant | undefined
    readonly sub: string
    readonly scope: readonly string[]
    readonly refresh: boolean
    readonly nonce?: string | undefined
    readonly audience?: string | readonly string[] | undefined
    /** What the client asked for; when the grant differs, the response's `scope` says so even if empty. */
    readonly requested?: readonly string[] | undefined
    /** Binds the access token to this DPoP key thumbprint (`cnf.jkt`, `token_type: DPoP`). */
    readonly jkt?: string | undefined
    /** Binds the refresh token to this DPoP key thumbprint (public clients, RFC 9449 §5). */
    readonly refreshJkt?: string | undefined
  },
): Promise<TokenResponse> {
  const { client, grant, sub, scope } = input
  const now = p.clock.now()
  const overrides = p.takeOverrides()
  const user = p.users.get(sub)
  const format = client.accessTokenFormat ?? p.settings.accessTokenFormat
  const aud = input.audience ?? client.audience ?? p.settings.audience ?? p.issuer
  const expMs = now + p.settings.accessTokenS * 1000
  const id = randomToken(format === 'opaque' ? 32 : 16)
  const record: AccessRecord = {
    id,
    format,
    clientId: client.clientId,
    sub,
    scope,
    aud,
    iatMs: now,
    expMs,
    grantId: grant?.id,
    username: user?.username,
    jkt: input.jkt,
    revoked: false,
  }
  p.state.accessTokens.set(id, record)
  if (grant) {
    grant.accessIds.add(id)
    grant.expMs = Math.max(grant.expMs, expMs)
  }
  const accessToken =
    format === 'opaque'
      ? id
      : await signJwt(
          p,
          {
            ...overrides.accessToken,
            iss: p.issuer,
            sub,
            aud: aud as string | string[],
            exp: Math.floor(expMs / 1000),
            iat: Math.floor(now / 1000),
            jti: id,
            client_id: client.clientId,
            ...(input.jkt !== undefined ? { cnf: { jkt: input.jkt } } : {}),
            ...(scope.length > 0 ? { scope: scope.join(' ') } : {}),
            ...(grant?.authTimeMs !== undefined ? { auth_time: Math.floor(grant.authTimeMs / 1000) } : {}),
          },
          'at+jwt',
        )
  const body: TokenResponse = {
    access_token: accessToken,
    token_type: input.jkt !== undefined ? 'DPoP' : 'Bearer',
    expires_in: p.settings.accessTokenS,
    ...(scope.length > 0 || narrowed(input.requested, scope) ? { scope: scope.join(' ') } : {}),
  }
  if (input.refresh && grant) {
    const token = randomToken(32)
    p.state.refreshTokens.set(token, {
      token,
      grantId: grant.id,
      clientId: client.clientId,
      iatMs: now,
      expMs: now + p.settings.refreshTokenS * 1000,
      jkt: input.refreshJkt,
      status: 'active',
    })
    grant.refreshTokens.add(token)
    grant.expMs = Math.max(grant.expMs, now + p.settings.refreshTokenS * 1000)
    body.refresh_token = token
  }
  if (scope.includes('openid') && user) {
    body.id_token = await signJwt(
      p,
      {
        ...releasedClaims(user, scope),
        ...protectedOmitted(overrides.idToken),
        iss: p.issuer,
        sub,
        aud: client.clientId,
        azp: client.clientId,
        exp: Math.floor((now + p.settings.idTokenS * 1000) / 1000),
        iat: Math.floor(now / 1000),
        ...(grant?.authTimeMs !== undefined ? { auth_time: Math.floor(grant.authTimeMs / 1000) } : {}),
        ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
        at_hash: await halfHash(accessToken),
      },
      'JWT',
    )
  }
  return body
}

/** Finds the record of a live access token (JWT or opaque); `undefined` when invalid. */
export async function findAccessToken(
  p: Provider,
  token: string,
): Promise<{ record: AccessRecord; claims?: JWTPayload } | undefined> {
  const opaque = p.state.accessTokens.get(token)
  if (opaque) return live(p, opaque) ? { record: opaque } : undefined
  if (token.split('.').length !== 3) return undefined
  let claims: JWTPayload
  try {
    ;({ payload: claims } = await jwtVerify(token, p.keys.verifier(), {
      issuer: p.issuer,
      typ: 'at+jwt',
      currentDate: new Date(p.clock.now()),
      algorithms: ['RS256', 'ES256', 'EdDSA'],
    }))
  } catch (error) {
    if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return undefined
    throw error
  }
  const record = typeof claims.jti === 'string' ? p.state.accessTokens.get(claims.jti) : undefined
  if (record?.format !== 'jwt' || !live(p, record)) return undefined
  return { record, claims }
}

function live(p: Provider, record: AccessRecord): boolean {
  if (record.revoked || record.expMs <= p.clock.now()) return false
  const grant = record.grantId === undefined ? undefined : p.state.grants.get(record.grantId)
  return !grant?.revoked
}

/** Verifies a JWT this IdP signed, at any time (for `id_token_hint`, which may be expired). */
export async function verifyOwnJwt(p: Provider, token: string): Promise<JWTPayload | undefined> {
  try {
    const { payload } = await jwtVerify(token, p.keys.verifier(), {
      issuer: p.issuer,
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      currentDate: new Date(0),
      clockTolerance: Number.MAX_SAFE_INTEGER,
    })
    return payload
  } catch {
    return undefined
  }
}

/** Whether the granted scope differs from what was asked for (RFC 6749 §5.1 then requires `scope`). */
function narrowed(requested: readonly string[] | undefined, granted: readonly string[]): boolean {
  return requested?.some((s) => !granted.includes(s)) === true
}

function protectedOmitted(claims: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  if (!claims) return {}
  return Object.fromEntries(Object.entries(claims).filter(([name]) => !PROTECTED_ID_CLAIMS.has(name)))
}
