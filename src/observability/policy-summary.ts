/**
 * The organisation's rules as a member may read them (as Docker Hub shows members its Image Access page, read-only):
 * served as `/policy` (JSON) and `/` (a page) by the admin listener, printed by `image-access policy`.
 */
import { z } from 'zod';
import { formatRepositoryPattern } from '../policy/allowlist';
import type { PolicyStatus } from './policy-status';
import type { DeniedPull } from './recent-denials';

export const policySummarySchema = z.object({
  /** Null when no policy is in force (then `unavailable` says why). */
  organization: z.string().nullable(),
  unavailable: z.string().nullable(),
  source: z.string(),
  note: z.string().nullable(),
  fetchedAt: z.string().nullable(),
  stale: z.string().nullable(),
  imageAccessManagement: z.boolean().nullable(),
  /** What members may pull, in words, in rule order. */
  allowed: z.array(z.string()),
  /** Null when the source cannot count them (Docker Hub tells a member only about themself). */
  ownersCount: z.number().nullable(),
  repositoryAllowlist: z.array(z.string()).nullable(),
  registryAllowlist: z.array(z.string()).nullable(),
  signedIn: z.object({ user: z.string().nullable(), source: z.string(), lookedIn: z.string().nullable() }),
  recentDenials: z.array(
    z.object({ time: z.string(), image: z.string(), decision: z.enum(['deny', 'warn']), rule: z.string(), user: z.string().nullable() }),
  ),
});
export type PolicySummary = z.infer<typeof policySummarySchema>;

export function summarizePolicy(status: PolicyStatus, denials: readonly DeniedPull[]): PolicySummary {
  const policy = status.policy;
  const rules = policy?.restrictedImages;
  const allowed =
    policy === undefined || rules === undefined
      ? []
      : !rules.enabled
        ? ['every Docker Hub image (Image Access Management is off)']
        : [
            'images outside Docker Hub (other registries are not governed by Image Access Management)',
            `the organization's own images (${policy.organization}/...)`,
            ...(rules.allowOfficialImages ? ['Docker Official Images'] : []),
            ...(rules.allowVerifiedPublishers ? ['Verified Publisher images'] : []),
            ...(policy.repositoryAllowlist?.length ? ['the repositories in the repository allowlist'] : []),
            "everything, for the organization's owners",
          ];
  return {
    organization: policy?.organization ?? null,
    unavailable: status.unavailable ?? null,
    source: status.source,
    note: status.note ?? null,
    fetchedAt: status.fetchedAt === undefined ? null : new Date(status.fetchedAt).toISOString(),
    stale: status.stale ?? null,
    imageAccessManagement: rules?.enabled ?? null,
    allowed,
    ownersCount: policy === undefined || status.source === 'hub' ? null : policy.owners.length,
    repositoryAllowlist: policy?.repositoryAllowlist?.map(formatRepositoryPattern) ?? null,
    registryAllowlist: policy?.registryAllowlist ? [...policy.registryAllowlist] : null,
    signedIn: { user: status.user ?? null, source: status.identitySource, lookedIn: status.lookedIn ?? null },
    recentDenials: denials.map((denial) => ({
      time: new Date(denial.time).toISOString(),
      image: denial.image,
      decision: denial.decision,
      rule: denial.rule,
      user: denial.user ?? null,
    })),
  };
}

/** What `image-access policy` prints. */
export function formatPolicySummary(summary: PolicySummary): string {
  const list = (items: readonly string[] | null, none: string) => (items === null ? none : items.length === 0 ? '(empty)' : items.join(', '));
  const lines = [
    summary.organization === null
      ? `NO POLICY IN FORCE: ${summary.unavailable ?? 'unknown'}`
      : `Image Access Management policy of organization ${summary.organization}: ${summary.imageAccessManagement ? 'on' : 'off'}`,
    ...(summary.note === null ? [] : [`  note:        ${summary.note}`]),
    `  source:      ${summary.source}${summary.fetchedAt === null ? '' : `, fetched ${summary.fetchedAt}`}${summary.stale === null ? '' : ` (STALE: ${summary.stale})`}`,
    '  members may pull:',
    ...summary.allowed.map((item) => `    - ${item}`),
    `  owners:      ${summary.ownersCount === null ? 'known to Docker Hub' : summary.ownersCount}`,
    `  repository allowlist: ${list(summary.repositoryAllowlist, 'none')}`,
    `  registry allowlist:   ${list(summary.registryAllowlist, 'none (every registry)')}`,
    `  signed in:   ${summary.signedIn.user ?? '(nobody)'} [${summary.signedIn.source}]${summary.signedIn.lookedIn === null ? '' : ` in ${summary.signedIn.lookedIn}`}`,
    `  recent denials on this machine: ${summary.recentDenials.length === 0 ? 'none' : ''}`,
    ...summary.recentDenials.map((d) => `    ${d.time} ${d.decision === 'warn' ? 'WARN ' : 'DENY '}${d.image} (${d.rule}${d.user === null ? '' : `, ${d.user}`})`),
  ];
  return `${lines.join('\n')}\n`;
}
