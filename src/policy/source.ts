import type { SignedInUser } from '../identity/identity';
import type { MaybeAsync } from '../maybe-async';
import type { Membership } from '../subject/subject';
import type { Badge, OrgPolicy } from './policy';

/** The policy in force, with where it came from and when it was fetched (for logs and `image-access status`). */
export interface PolicyView {
  readonly policy: OrgPolicy;
  readonly source: string;
  readonly fetchedAt: number;
  /** The policy document's version, when the source has one (a URL's ETag, a file's content digest): for the audit log. */
  readonly version?: string;
  /** Set when a refresh failed and this is the last good policy. */
  readonly stale?: string;
  /** Why this policy rather than another is in force, when that is not obvious (the demo, a fallback): for status. */
  readonly note?: string;
  /** The pulling user's standing in the organisation; undefined when the source cannot tell (e.g. a file without members). */
  readonly membership?: Membership;
}

export interface PolicyUnavailable {
  readonly unavailable: string;
}

/**
 * Where policies come from: a file, a company URL or Docker Hub. Implementations never reject, and answer at once (no
 * promise) from what they hold: a promise only when they must fetch.
 */
export interface PolicySource {
  readonly describe: string;
  policyFor(user: SignedInUser): MaybeAsync<PolicyView | PolicyUnavailable>;
  /** Badge of a Docker Hub namespace; undefined means community. */
  badgeOf(namespace: string, view: PolicyView): MaybeAsync<Badge | undefined>;
  close(): void;
}

export const isUnavailable = (value: PolicyView | PolicyUnavailable): value is PolicyUnavailable =>
  'unavailable' in value;
