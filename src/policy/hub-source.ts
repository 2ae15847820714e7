import type { SignedInUser } from '../identity/identity';
import type { OrganizationResolver } from '../identity/organization';
import { lastMade } from '../last-made';
import { then, type MaybeAsync } from '../maybe-async';
import { RefreshingCache, remoteCacheOptions, type CacheOptions, type Found, type RemoteSourceOptions } from './cache';
import { HubBadges, hubClient } from './hub-badges';
import { RemoteError } from './remote-error';
import type { HubClient, HubOrgMembership } from './hub-client';
import type { Badge, RestrictedImages } from './policy';
import type { Membership } from '../subject/subject';
import type { PolicySource, PolicyUnavailable, PolicyView } from './source';

export interface HubSourceOptions extends RemoteSourceOptions {
  readonly hubUrl: string;
  /** The organisation whose policy applies (IMAGE_ACCESS_ORG or Docker Desktop's registry.json); asked per pull. */
  readonly organization: OrganizationResolver;
}

/** Hub access tokens last 10 minutes; refresh them well before. */
const TOKEN_TTL_MS = 5 * 60_000;
const MAX_ENTRIES = 10_000;

const SOURCE = 'hub';
/** Docker Hub's policy carries no badge catalogue: badges come from the Hub itself (badgeOf). */
const NO_BADGES: ReadonlyMap<string, Badge> = new Map();

/**
 * The live Docker Hub policy (`IMAGE_ACCESS_POLICY=hub`). With the pulling user's own credential it signs in, reads
 * their organisations and role, and the organisation's `restricted_images` settings; badges come from the namespace's
 * Hub profile. Everything is cached (see RefreshingCache).
 *
 * Hub lets only signed-in members read an organisation's settings, so a pull by nobody, by a refused credential or by
 * a non-member is judged on the settings last read for a member (membership unknown, or `none` for a non-member);
 * before any member has pulled, there is no policy and the fail mode decides.
 */
export class HubPolicySource implements PolicySource {
  readonly describe: string;
  private readonly client: HubClient;
  private readonly tokens: RefreshingCache<string>;
  private readonly memberships: RefreshingCache<readonly HubOrgMembership[]>;
  private readonly settings: RefreshingCache<RestrictedImages>;
  private readonly badges: HubBadges;
  /**
   * Keys derived from a secret are HMACs under a key that lives and dies with the process; made (node:crypto
   * required) with the first user key, not before the plugin listens.
   */
  private keySecret: Buffer | undefined;

  constructor(private readonly options: HubSourceOptions) {
    this.describe = `hub:${options.hubUrl}`;
    this.client = hubClient(options.hubUrl, options);
    const common = (name: string, ttlMs: number, staleMaxMs: number): CacheOptions =>
      remoteCacheOptions(options, { name, maxEntries: MAX_ENTRIES, ttlMs, staleMaxMs });
    const tokenTtl = Math.min(options.ttlMs, TOKEN_TTL_MS);
    // A stale token is an expired token: never serve one.
    this.tokens = new RefreshingCache(common('hub token', tokenTtl, tokenTtl));
    this.memberships = new RefreshingCache(common('hub membership', options.ttlMs, options.staleMaxMs));
    this.settings = new RefreshingCache(common('hub org settings', options.ttlMs, options.staleMaxMs));
    // A badge not known in time counts as community, rather than holding up a decision whose policy is in hand. Up to
    // four first fetches (token, membership, settings, badge) may wait in one decision: the badge gets a quarter of it.
    this.badges = new HubBadges(this.client, options, Math.floor(options.decisionTimeoutMs / 4));
  }

  policyFor(user: SignedInUser): MaybeAsync<PolicyView | PolicyUnavailable> {
    return then(this.options.organization.current(), (organization) => this.policyOf(organization, user));
  }

  badgeOf(namespace: string): MaybeAsync<Badge | undefined> {
    return this.badges.badgeOf(namespace);
  }

  private policyOf(organization: string | undefined, user: SignedInUser): MaybeAsync<PolicyView | PolicyUnavailable> {
    if (organization === undefined) {
      return { unavailable: 'no organization is set (IMAGE_ACCESS_ORG, or allowedOrgs in registry.json)' };
    }
    const { username, credential } = user;
    // Nobody (validly) signed in: membership unknown, which the enforced sign-in rule refuses.
    if (username === undefined || credential === undefined) return this.withoutMember(organization, undefined);

    const userKey = this.userKey(username, credential.secret);
    const memberships = this.memberships.get(userKey, `organizations of ${username}`, () =>
      this.withToken(userKey, user, (token) => this.client.userOrgs(token)),
    );
    return then(memberships, (orgs) => {
      if (!orgs.ok) {
        // A refused secret is an answer: the user is not (validly) signed in. Anything else: we cannot tell.
        const refused = orgs.error instanceof RemoteError && orgs.error.kind === 'unauthorized';
        if (refused) return this.withoutMember(organization, undefined, `Docker Hub refused the credential of ${username}`);
        return this.withoutMember(organization, undefined, orgs.error.message, orgs.error.message);
      }
      const membership = membershipIn(organization, orgs.value);
      if (membership === 'none') return this.withoutMember(organization, 'none', `${username} is not a member`, orgs.stale);
      const settings = this.settings.get(organization, `settings of ${organization}`, () =>
        this.withToken(userKey, user, (token) => this.client.orgSettings(organization, token)),
      );
      return then(settings, (found): PolicyView | PolicyUnavailable =>
        found.ok ? this.view(organization, found, membership, username, orgs) : { unavailable: found.error.message },
      );
    });
  }

  close(): void {
    // Nothing to release: refreshes are driven by lookups, not timers.
  }

  /** The policy for someone who cannot read the settings themself: what was last read for a member, if anything. */
  private withoutMember(
    organization: string,
    membership: Membership | undefined,
    cause = 'nobody is signed in to Docker Hub',
    stale?: string,
  ): PolicyView | PolicyUnavailable {
    const settings = this.settings.peek(organization);
    if (!settings) {
      return { unavailable: `${cause}; only a signed-in member of "${organization}" can read its Image Access Management settings` };
    }
    return this.view(organization, settings, membership, undefined, stale === undefined ? undefined : { stale });
  }

  private view(
    organization: string,
    settings: Found<RestrictedImages>,
    membership: Membership | undefined,
    username: string | undefined,
    orgs: { readonly stale?: string; readonly fetchedAt?: number } | undefined,
  ): PolicyView {
    const fetchedAt = Math.min(settings.fetchedAt, orgs?.fetchedAt ?? settings.fetchedAt);
    const owner = membership === 'owner' ? username : undefined;
    return this.viewOf(organization, settings.value, owner, fetchedAt, settings.stale ?? orgs?.stale, membership);
  }

  /** Every pull of a signed-in machine is judged under the same view until something it is made of changes. */
  private readonly viewOf = lastMade(
    (
      organization: string,
      restrictedImages: RestrictedImages,
      owner: string | undefined,
      fetchedAt: number,
      stale: string | undefined,
      membership: Membership | undefined,
    ): PolicyView => ({
      policy: { organization, restrictedImages, owners: owner === undefined ? [] : [owner], badges: NO_BADGES },
      source: SOURCE,
      fetchedAt,
      ...(stale === undefined ? {} : { stale }),
      ...(membership === undefined ? {} : { membership }),
    }),
  );

  /** Runs a Hub call with the user's access token; a token the Hub no longer accepts is dropped and renewed once. */
  private async withToken<T>(userKey: string, user: SignedInUser, call: (token: string) => Promise<T>): Promise<T> {
    const token = await this.token(userKey, user);
    try {
      return await call(token);
    } catch (error) {
      if (!(error instanceof RemoteError && error.kind === 'unauthorized')) throw error;
      this.tokens.delete(userKey);
      return call(await this.token(userKey, user));
    }
  }

  private async token(userKey: string, user: SignedInUser): Promise<string> {
    const { username, credential } = user;
    if (username === undefined || credential === undefined) throw new Error('no credential to sign in with');
    const token = await this.tokens.get(userKey, `token of ${username}`, () => this.client.signIn(username, credential));
    if (!token.ok) throw token.error;
    return token.value;
  }

  /**
   * A user is their name and their secret: someone claiming a name with another secret shares nothing cached. Every
   * pull of a signed-in machine asks for the same user's key: it is not hashed again.
   */
  private readonly userKey = lastMade((username: string, secret: string): string => {
    const crypto = require('node:crypto') as typeof import('node:crypto');
    this.keySecret ??= crypto.randomBytes(32);
    return crypto.createHmac('sha256', this.keySecret).update(username).update('\0').update(secret).digest('base64url');
  });
}

function membershipIn(organization: string, orgs: readonly HubOrgMembership[]): Membership {
  const role = orgs.find((org) => org.orgname === organization)?.role;
  if (role === undefined) return 'none';
  return role === 'owner' ? 'owner' : 'member';
}
