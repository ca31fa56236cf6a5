/**
 * The asymmetric JWS algorithms the guard verifies, for access tokens and DPoP proofs alike.
 *
 * @module
 */

/** An asymmetric JWS algorithm (RFC 7518, RFC 8037): never `none`, never a MAC (`HS*`). */
export type AsymmetricAlgorithm =
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'Ed25519'

/** Every {@link AsymmetricAlgorithm}, for checking options. @internal */
export const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set<AsymmetricAlgorithm>([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
])
