/**
 * What the plugin reports as it works, and the observer interfaces that carry it to the audit log and the metrics.
 * Events hold names and outcomes only: never a credential, a token or a header.
 */
import type { EnforcementMode } from '../config/settings';
import type { ImageCategory } from '../decision/category';
import type { DecisionRule } from '../decision/decide';
import type { CallOutcome } from '../policy/http-client';

/** `warn`: the policy denies the image, but warn mode let it through. */
export type DecisionResult = 'allow' | 'deny' | 'warn';

/** How the judged image reached the plugin: the registry gateway; absent for the AuthZ API. */
export type DecisionRoute = 'gateway';

/** One image judged by the Authorizer: a line of the audit log, a sample for the metrics. */
export interface DecisionEvent {
  /** Epoch milliseconds. */
  readonly time: number;
  readonly image: string;
  readonly category: ImageCategory;
  readonly decision: DecisionResult;
  readonly rule: DecisionRule;
  readonly reason: string;
  readonly user?: string;
  readonly identitySource?: string;
  readonly organization?: string;
  readonly policySource?: string;
  /** Epoch milliseconds of the policy's last successful fetch. */
  readonly policyFetchedAt?: number;
  /** The policy document's version, when its source has one (a URL's ETag, a file's digest). */
  readonly policyVersion?: string;
  /** Why the policy in force is an older one, when its refresh failed. */
  readonly policyStale?: string;
  readonly mode: EnforcementMode;
  readonly via?: DecisionRoute;
  readonly latencyMs: number;
}

export interface DecisionObserver {
  /** Must not throw; the Authorizer guards against it anyway so that a pull never fails for a report. */
  decided(event: DecisionEvent): void;
}

/** `fresh`: served from the cache; `expired`: present but past its TTL, so refreshed first; `miss`: fetched. */
export type CacheLookupResult = 'fresh' | 'expired' | 'miss';

/** The remotes the policy sources call: a metrics label, so a small fixed set. */
export type RemoteName = 'hub' | 'policy-url';

/** Told by the remote policy sources of each HTTP call and each cache lookup they make. */
export interface RemoteObserver {
  remoteCall(remote: RemoteName, outcome: CallOutcome, seconds: number): void;
  /** `cache`: the cache's name (`hub badge`, `policy url`, ...). */
  cacheLookup(cache: string, result: CacheLookupResult): void;
}

/** For sources wired without metrics, and tests. */
export const IGNORE_REMOTE: RemoteObserver = { remoteCall: () => undefined, cacheLookup: () => undefined };
