/**
 * One mock IdP: its settings, clock, keys, journal, faults, users and clients, and the state the
 * endpoints and the control plane share. Option checks live in `settings.ts`, the records in
 * `state.ts`, token issuing in `issuing.ts`. @internal
 *
 * @module
 */
import { MockClock } from './clock.ts'
import type { StateStats } from './control.ts'
import { DpopNonces } from './dpop.ts'
import { MockIdpError } from './errors.ts'
import { Faults } from './faults.ts'
import type { ClaimOverrides } from './issuing.ts'
import { Journal } from './journal.ts'
import { KeyStore } from './keys.ts'
import type { Challenge } from './pkce.ts'
import {
  checkClient,
  checkUser,
  DEMO_ALICE,
  parseIssuer,
  resolveSettings,
  resourceProblem,
  type Settings,
} from './settings.ts'
import { type DeviceRecord, type Grant, State } from './state.ts'
import type { MockClient, MockIdpOptions, MockUser } from './types.ts'
import { randomToken } from './util.ts'
import { fail, truncate } from './wire.ts'

/** The shared state of one mock IdP instance. Two instances share nothing. */
export class Provider {
  readonly settings: Settings
  readonly clock: MockClock = new MockClock()
  readonly keys: KeyStore = new KeyStore(this.clock)
  readonly journal: Journal
  readonly faults: Faults = new Faults()
  readonly state: State
  readonly users: Map<string, MockUser> = new Map()
  readonly clients: Map<string, MockClient> = new Map()
  /** The DPoP server nonces (RFC 9449 §8). */
  readonly dpopNonces: DpopNonces
  /** `control.dpop.requireNonce()`: `undefined` leaves it to the clients and `dpop.nonce`. */
  dpopNonceSwitch: boolean | undefined = undefined
  issuer: string
  basePath: string

  readonly #initialUsers: readonly MockUser[]
  readonly #initialClients: readonly MockClient[]
  readonly #claimOverrides: Array<{ overrides: ClaimOverrides; remaining: number }> = []
  readonly #loginQueue: string[] = []

  constructor(options: MockIdpOptions) {
    this.settings = resolveSettings(options)
    this.journal = new Journal(this.settings.journalLimit)
    this.state = new State(this.settings.limits, this.clock)
    this.dpopNonces = new DpopNonces(
      this.settings.dpopNonceLifetimeS * 1000,
      () => this.clock.now(),
      () => randomToken(16),
    )
    const { issuer, basePath } = parseIssuer(options.issuer ?? 'https://mock-idp.test')
    this.issuer = issuer
    this.basePath = basePath
    this.#initialUsers = (options.users ?? [{ sub: 'alice', password: 'alice', claims: DEMO_ALICE }]).map(
      checkUser,
    )
    this.#initialClients = (options.clients ?? []).map((c) => checkClient(c, this.settings.scopes))
    if (
      this.settings.defaultUser !== undefined &&
      !this.#initialUsers.some((u) => u.sub === this.settings.defaultUser)
    ) {
      throw new MockIdpError(
        'ERR_INVALID_OPTION',
        `defaultUser ${JSON.stringify(this.settings.defaultUser)} is not one of the users`,
      )
    }
    this.resetState()
  }

  /** Creates the first signing key. */
  async init(): Promise<void> {
    await this.keys.init(this.settings.signingAlg, this.settings.keys)
  }

  /** Moves to a new issuer (after `serve()` learns its port). */
  setIssuer(issuer: string): void {
    const parsed = parseIssuer(issuer)
    this.issuer = parsed.issuer
    this.basePath = parsed.basePath
  }

  /** Forgets every grant, token, code and journal entry; users and clients go back to the options. */
  resetState(): void {
    this.users.clear()
    for (const user of this.#initialUsers) this.addUser(user)
    this.clients.clear()
    for (const client of this.#initialClients) this.clients.set(client.clientId, client)
    this.state.clear()
    this.dpopNonces.clear()
    this.dpopNonceSwitch = undefined
    this.#claimOverrides.length = 0
    this.#loginQueue.length = 0
    this.faults.clear()
    this.journal.clear()
  }

  /** How many entries each state map holds. */
  stats(): StateStats {
    return { ...this.state.sizes(), journal: this.journal.size }
  }

  /** The absolute URL of an endpoint path like `/token`. */
  url(path: string): string {
    return `${this.issuer}${path}`
  }

  addUser(user: MockUser): void {
    const checked = checkUser(user)
    for (const existing of this.users.values()) {
      if (existing.sub !== checked.sub && existing.username === checked.username) {
        throw new MockIdpError(
          'ERR_DUPLICATE',
          `username ${JSON.stringify(checked.username)} is taken by user ${existing.sub}`,
        )
      }
    }
    this.users.set(checked.sub, checked)
  }

  user(sub: string): MockUser {
    const user = this.users.get(sub)
    if (!user) {
      throw new MockIdpError(
        'ERR_UNKNOWN_USER',
        `no user with sub ${JSON.stringify(sub)}; known: ${[...this.users.keys()].join(', ') || 'none'}`,
      )
    }
    return user
  }

  userByLogin(login: string): MockUser | undefined {
    return this.users.get(login) ?? [...this.users.values()].find((u) => u.username === login)
  }

  client(clientId: string): MockClient {
    const client = this.clients.get(clientId)
    if (!client) {
      throw new MockIdpError(
        'ERR_UNKNOWN_CLIENT',
        `no client with id ${JSON.stringify(clientId)}; known: ${[...this.clients.keys()].join(', ') || 'none'}`,
      )
    }
    return client
  }

  /**
   * The scopes a client is granted of those it asked for: the ones it may have (RFC 6749 §3.3
   * lets the server grant less and say so), or with `strict.scopes` an `invalid_scope` refusal.
   * `refused` lists scopes this request may never get, with the reason, e.g. `openid` on client
   * credentials.
   */
  grantScope(
    client: MockClient,
    requested: readonly string[],
    refused?: { readonly scopes: readonly string[]; readonly reason: string },
  ): readonly string[] {
    const allowed = client.scopes ?? this.settings.scopes
    const never = requested.filter((s) => refused?.scopes.includes(s))
    const unknown = requested.filter((s) => !allowed.includes(s) && !never.includes(s))
    if (this.settings.strictScopes && (never.length > 0 || unknown.length > 0)) {
      const problem =
        never.length > 0
          ? `${refused?.reason ?? 'it is not allowed'}; drop ${quoted(never)}`
          : `scope ${quoted(unknown)} is not allowed for client ${client.clientId}`
      throw fail(
        'invalid_scope',
        `${problem} (refused because strict.scopes is on; without it the IdP grants the allowed scopes)`,
      )
    }
    return requested.filter((s) => allowed.includes(s) && !never.includes(s))
  }

  // ---- claim overrides and headless logins -------------------------------------------------

  /** Queues claim overrides for the next `times` issuances. */
  overrideClaims(overrides: ClaimOverrides, times: number): void {
    this.#claimOverrides.push({ overrides, remaining: times })
  }

  /** Drops every queued claim override. */
  clearClaimOverrides(): void {
    this.#claimOverrides.length = 0
  }

  /** Takes the overrides for one issuance. */
  takeOverrides(): ClaimOverrides {
    const head = this.#claimOverrides[0]
    if (!head) return {}
    head.remaining -= 1
    if (head.remaining <= 0) this.#claimOverrides.shift()
    return head.overrides
  }

  /** The userinfo overrides of the override at the head of the queue (not consumed by userinfo). */
  userinfoOverrides(): Readonly<Record<string, unknown>> {
    return this.#claimOverrides[0]?.overrides.userinfo ?? {}
  }

  /** The next headless login picks this user. */
  queueLogin(sub: string): void {
    this.user(sub)
    this.#loginQueue.push(sub)
  }

  // ---- grants and device codes -------------------------------------------------------------

  /** Starts a grant (a login's consent), kept while tokens issued from it live. */
  newGrant(
    clientId: string,
    sub: string,
    scope: readonly string[],
    authTimeMs: number | undefined,
    resources: readonly string[] = [],
  ): Grant {
    return this.state.newGrant(clientId, sub, scope, authTimeMs, this.settings.accessTokenS * 1000, resources)
  }

  /**
   * Checks the resource indicators of a request (RFC 8707 §2): absolute URIs without a fragment,
   * each one the client may ask for (its `resources`, else the IdP's), no query under
   * `strict.resources`, and within `within` (what the grant covers) when that is given.
   *
   * @throws OAuthFailure `invalid_target` naming the resource and the rule.
   */
  checkResources(client: MockClient, requested: readonly string[], within?: readonly string[]): string[] {
    const allowed = client.resources ?? this.settings.resources
    for (const resource of requested) {
      const problem = resourceProblem(resource)
      if (problem !== undefined) throw fail('invalid_target', problem)
      const shown = JSON.stringify(truncate(resource, 200))
      if (this.settings.strictResources && new URL(resource).search !== '') {
        throw fail(
          'invalid_target',
          `resource ${shown} has a query, which RFC 8707 §2 says SHOULD NOT be sent (refused because strict.resources is on)`,
        )
      }
      if (allowed !== undefined && !allowed.includes(resource)) {
        throw fail(
          'invalid_target',
          `resource ${shown} is not one client ${client.clientId} may ask for (its resources, or the IdP's)`,
        )
      }
      if (within !== undefined && within.length > 0 && !within.includes(resource)) {
        throw fail(
          'invalid_target',
          `resource ${shown} was not part of the authorization grant (RFC 8707 §2.2); ask for a subset of ${within.map((r) => JSON.stringify(r)).join(', ')}`,
        )
      }
    }
    return [...new Set(requested)]
  }

  /** Starts a device authorization with the IdP's lifetime and polling interval. */
  newDevice(
    clientId: string,
    scope: readonly string[],
    pkce: Challenge,
    requestedScope: readonly string[],
    resources: readonly string[] = [],
  ): DeviceRecord {
    return this.state.newDevice({
      clientId,
      scope,
      requestedScope,
      pkce,
      resources,
      lifetimeMs: this.settings.deviceCodeS * 1000,
      intervalS: this.settings.deviceIntervalS,
    })
  }

  /** Approves or denies a pending device authorization. */
  decideDevice(code: string, decision: 'approve' | 'deny', sub?: string): DeviceRecord {
    const device = this.state.deviceForUserCode(code)
    if (device.status !== 'pending') {
      throw new MockIdpError('ERR_DEVICE_CODE_STATE', `user code ${code} is ${device.status}, not pending`)
    }
    if (device.expMs <= this.clock.now()) {
      throw new MockIdpError('ERR_DEVICE_CODE_STATE', `user code ${code} has expired`)
    }
    if (decision === 'deny') {
      device.status = 'denied'
      return device
    }
    const user = sub === undefined ? this.defaultLoginUser() : this.user(sub)
    device.status = 'approved'
    device.sub = user.sub
    device.authTimeMs = this.clock.now()
    return device
  }

  /** The user a headless login picks: the control queue, else `defaultUser`, else the first user. */
  defaultLoginUser(): MockUser {
    const queued = this.#loginQueue.shift()
    if (queued !== undefined) return this.user(queued)
    if (this.settings.defaultUser !== undefined) return this.user(this.settings.defaultUser)
    const first = this.users.values().next()
    if (first.done)
      throw new MockIdpError(
        'ERR_UNKNOWN_USER',
        'the mock IdP has no users; add one with control.users.add()',
      )
    return first.value
  }
}

function quoted(values: readonly string[]): string {
  return values.map((s) => JSON.stringify(s)).join(', ')
}
