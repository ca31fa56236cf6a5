/**
 * A fixed RSA-2048 signing key for the default RS256 setup, so a mock IdP is ready in a few
 * milliseconds instead of waiting for RSA key generation (which dominates the start-up of other
 * mocks). It is a **test key**: published in this package, never to be trusted by anything but a
 * test. Pass `keys: 'generate'` to get a fresh key per instance; rotation always generates.
 *
 * @module
 */

/** The private JWK of the bundled development key. @internal */
export const DEV_RSA_JWK: JsonWebKey = {
  kty: 'RSA',
  n: '0S2nvXzg1Mu_q-_YzbW3emptFOQn9aLqRc7LIdLrIvJlF_J371Or6seUnI6gM6X6FY3A_NbqJQfpvrGRH1CQFfkO2UeUtdEVkbzG5D5bi9l696WKD3ZuD9z-KgJ-TYguAWHw-QdVCyTiI7zgc4iScbBO94O1c6HU7EMRy3qb6xaMh8w0sxs4feAjvPF3j3BHw2oeaFxK5oNmUteD76fW66Q1hZgfDBazBUd8B0v_ZibZrmqJKp6Yoz-h1BHguDvjYS9ROxpVjYoLAriuhuC0T3QfwIokBbmZ3Ysi8sjbNKDWeu5NNeEAesXNC7TCTHvOecqknRL5wRoSnoNYc10Qdw',
  e: 'AQAB',
  d: 'FEo-bBXx5RJCbFYejI2k1339SLp82cnMuaq-b3B7GG-0uKbvVUqjcWmck7cN-RSPdonCf4QFQERNOw8USZpR75-x_geAeEZotjM-g6M81Arrb5wiES_mqyk_iimlwLWF6OJsMmuwpx0Txm2qw-oqclaswjuHXUkEU0qKLledSic_47yQxyTqbTRF8pH5CpNtLP9zlXruxGAjfUkgrHhM3AJvP0o9j7bahetEy2r9S-KlPxAnFPKTH_oKjBWZD6aFbwLg368tc9D04ZIXkNrcD7QORtVFfCBWthCPyFHK8n-xWORG6lJW4Lnojs4k9XGFyBcyZ2gVWT_mopxokyZRWQ',
  p: '57azT9lJSYJjLdVSfSU63t91rd26ZgMm1lzwmXY9JVLMGPa9BdzlOqeSCQ6pihbdS9noZUyVLHDDSOB1XwRUbKr2CfhVjlYx6z9dytXuZ9EbqlvPRZvaN-lbXkP98jSgvWn2O_PcyaXSWakg5D_CKceas15qPQoQ-EH_SMGYbv0',
  q: '5xpKckCkpXvXrx2L59P7BwQQxERMl1CJ8-Uf5oDyy4TRYEOSDbWE5rdwo2OaF-1kVCJV1i5uQdnDUsj_ztnlaBJ4lpyHmghpnRqppzT5_m0vgROQDGL0AfkMYGnycfLOXrX5AFxDOsaVPxXLKxqZYKeENXBVWMABfxkFSDY46YM',
  dp: 'EiX4I1_kYpKIzBUyMcURuFUONYDxUX4bs5xx58MgBOVYQPhKU8Q6W_617Gmuk7c4u_EkR5LY-DMYyIN0De4b4qr9PEisAsrze_ZplTJuSslQ_mXUdSJA1DI9ysNOh4LhuBQtigKOn2iSch1SCy6HOZh9oGDbt04riBY7NWqcUs0',
  dq: 'avhZYz8Wtt52_ECB5MHTHPE9zYsLpLKL2E_DD0-6koec3qEINr5BkQVx5r8QsWiZmvP1pVkCggqJBYWyGo3zSNPb62LyxVKFiEmyI4o6-RCS_30NnR4kcdFUcEA6D5JjAaXbZtZN7CPFK1ksHHyIaBvB73ZamuTtDGaJcl5ew38',
  qi: 'fykS3gblCebBxXnV5rpsU8NJFO4FkM86BdA4uCH1d8bdVbMMIhUBwkyLYlQG7W3jJOmFBq6KLlPl1cJgAG_HxlFchS_BTjWP6VDccd_O1JWjaOHm86SXly2KhZJ_LeoN8NzklSK9RJ1uXWlGNZGRzN7AAJGkoSyvt3Aji9TFMG4',
}
