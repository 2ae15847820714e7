/**
 * Which policy is in force right now, asked of the policy source the way a pull would ask it: for `/healthz`,
 * `/status` and the policy gauges. Sources cache what they fetch, so a fleet polling health adds no remote calls
 * beyond the refreshes that pulls would cause anyway.
 */
import type { IdentityResolver } from '../identity/identity';
import { REFRESHING } from '../policy/cache';
import type { OrgPolicy } from '../policy/policy';
import { within } from '../policy/deadline';
import { isUnavailable, type PolicySource } from '../policy/source';
import { bareRequest } from '../protocol/wire';
import type { HealthReport } from './status-report';

export interface PolicyStatus {
  /** The policy's origin (`file:/etc/...`, `builtin`, a URL), or the source's description when none is in force. */
  readonly source: string;
  readonly organization?: string;
  /** Epoch milliseconds of the last successful fetch. */
  readonly fetchedAt?: number;
  /** The policy document's version, when its source has one. */
  readonly version?: string;
  /** The last refresh failed: why. An older policy is in force. */
  readonly stale?: string;
  /** Why this policy is in force when that is not obvious: the demo policy, or the Hub as the fallback. */
  readonly note?: string;
  /** No policy could be had at all: why. */
  readonly unavailable?: string;
  /** Who the plugin takes the puller to be when the request names nobody: the machine's own sign-in. */
  readonly user?: string;
  readonly identitySource: string;
  /** Where the plugin found that user, or looked for one. */
  readonly lookedIn?: string;
  /** The rules in force, for `image-access policy` and the policy page. */
  readonly policy?: OrgPolicy;
}

/** A request with no user and no headers, as from a plain `docker pull`: the identity and policy such a pull gets. */
const PROBE_REQUEST = bareRequest('GET', '/_ping');

export interface PolicyProbeDeps {
  readonly policySource: PolicySource;
  readonly identity: IdentityResolver;
  /** A health check must answer: a lookup slower than this reports the policy unavailable. */
  readonly timeoutMs: number;
  readonly clock: () => number;
}

/** One scrape asks several gauges: answers younger than this are shared. */
const REUSE_MS = 1000;

/** Returns a function that reports the policy status; concurrent and back-to-back calls share one lookup. */
export function policyStatusProbe(deps: PolicyProbeDeps): () => Promise<PolicyStatus> {
  let last: { readonly at: number; readonly status: Promise<PolicyStatus> } | undefined;
  return () => {
    const now = deps.clock();
    if (last === undefined || now - last.at >= REUSE_MS) last = { at: now, status: lookUp(deps) };
    return last.status;
  };
}

async function lookUp({ policySource, identity, timeoutMs }: PolicyProbeDeps): Promise<PolicyStatus> {
  const unavailable = (why: string): PolicyStatus => ({ source: policySource.describe, identitySource: 'unknown', unavailable: why });
  const lookup = (async (): Promise<PolicyStatus> => {
    const user = await identity.identify(PROBE_REQUEST);
    const who = {
      ...(user.username === undefined ? {} : { user: user.username }),
      identitySource: user.source,
      ...(user.lookedIn === undefined ? {} : { lookedIn: user.lookedIn }),
    };
    const view = await policySource.policyFor(user);
    if (isUnavailable(view)) return { source: policySource.describe, ...who, unavailable: view.unavailable };
    return {
      source: view.source,
      organization: view.policy.organization,
      fetchedAt: view.fetchedAt,
      ...(view.version === undefined ? {} : { version: view.version }),
      // A policy past its TTL whose refresh has not failed (it is under way) is not a failed refresh.
      ...(view.stale === undefined || view.stale === REFRESHING ? {} : { stale: view.stale }),
      ...(view.note === undefined ? {} : { note: view.note }),
      ...who,
      policy: view.policy,
    };
  })().catch((error: unknown) => unavailable(String(error)));
  return (await within(lookup, timeoutMs)) ?? unavailable(`policy lookup took over ${timeoutMs} ms`);
}

/** What `/healthz` answers: ok while a policy is in force (even a stale one, which the plugin still enforces). */
export function healthReport(status: PolicyStatus, now: number): HealthReport {
  return {
    ok: status.unavailable === undefined,
    policySource: status.source,
    organization: status.organization ?? null,
    policyAgeSeconds: status.fetchedAt === undefined ? null : Math.max(0, Math.round((now - status.fetchedAt) / 1000)),
    lastRefreshError: status.unavailable ?? status.stale ?? null,
  };
}
