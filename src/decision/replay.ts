/**
 * Replays recorded pull decisions against a candidate policy: what would change if it were in force. Pure: the audit
 * records bring everything the decision needs (image, user, the badge-derived category of the time).
 */
import { parseReference, hubNamespace } from '../reference/reference';
import { BADGES, type OrgPolicy } from '../policy/policy';
import { categorize } from './category';
import { decide, type DecisionRule } from './decide';

/** What replay needs of one audit record. */
export interface RecordedPull {
  readonly image: string;
  readonly user: string | null;
  readonly identitySource?: string;
  readonly category: string;
  readonly decision: 'allow' | 'deny' | 'warn';
  readonly rule: string;
}

export interface ChangedPull {
  readonly image: string;
  readonly user: string | null;
  readonly before: string;
  readonly after: DecisionRule;
}

export interface ReplayResult {
  readonly replayed: number;
  /** Records that are not a pull of a named image (import, load, build...) or name none the parser accepts. */
  readonly skipped: number;
  readonly newlyDenied: readonly ChangedPull[];
  readonly newlyAllowed: readonly ChangedPull[];
}

export function replay(records: Iterable<RecordedPull>, policy: OrgPolicy): ReplayResult {
  let replayed = 0;
  let skipped = 0;
  const newlyDenied: ChangedPull[] = [];
  const newlyAllowed: ChangedPull[] = [];
  for (const record of records) {
    const parsed = parseReference(record.image);
    if (!parsed.ok || record.rule.startsWith('activity-') || record.rule === 'plugin-protected') {
      skipped++;
      continue;
    }
    replayed++;
    const image = parsed.reference;
    // The badge as it was when the pull was judged, unless the candidate policy names one itself.
    const recorded = BADGES.find((badge) => badge === record.category);
    const badge = policy.badges.get(hubNamespace(image)) ?? recorded;
    const decision = decide({
      image,
      category: categorize(image, policy.organization, badge),
      identity: { ...(record.user === null ? {} : { username: record.user }), source: record.identitySource ?? 'audit' },
      policy,
      // Enforced sign-in is the machine's setting, not the policy's: as it was.
      requireSignIn: record.rule === 'sign-in-required',
    });
    const allowedBefore = record.decision === 'allow';
    if (allowedBefore === decision.allow) continue;
    const change = { image: record.image, user: record.user, before: record.rule, after: decision.rule };
    (decision.allow ? newlyAllowed : newlyDenied).push(change);
  }
  return { replayed, skipped, newlyDenied, newlyAllowed };
}
