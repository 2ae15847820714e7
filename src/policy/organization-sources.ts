/**
 * Which organisation's policy applies: the one configured (IMAGE_ACCESS_ORG, else registry.json's allowedOrgs), never
 * another. A policy document for another organisation is not enforced; the embedded demo policy is used only when
 * asked for (`builtin`) or when nothing is configured at all (`auto`), and says so.
 */
import type { OrganizationResolver } from '../identity/organization';
import { then } from '../maybe-async';
import { lastMade } from '../last-made';
import { catalogueBadge } from './file-source';
import { defaultPolicy, DEMO_NOTICE, DEMO_ORGANIZATION } from './default-policy';
import { isUnavailable, type PolicySource, type PolicyUnavailable, type PolicyView } from './source';

export const BUILTIN = 'builtin';

/** `IMAGE_ACCESS_POLICY=builtin`: the demo policy, for the configured organisation if there is one. */
export function demoSource(organization: OrganizationResolver, loadedAt: number): PolicySource {
  return {
    describe: BUILTIN,
    policyFor: () =>
      then(organization.current(), (org) => ({ policy: defaultPolicy(org ?? DEMO_ORGANIZATION), source: BUILTIN, fetchedAt: loadedAt, note: DEMO_NOTICE })),
    badgeOf: catalogueBadge,
    close: () => undefined,
  };
}

/** A file or URL policy, enforced only while it is the configured organisation's. */
export function forConfiguredOrganization(inner: PolicySource, organization: OrganizationResolver): PolicySource {
  return {
    describe: inner.describe,
    policyFor: (user) =>
      then(organization.current(), (org) =>
        then(inner.policyFor(user), (view): PolicyView | PolicyUnavailable => {
          if (isUnavailable(view) || org === undefined || view.policy.organization === org) return view;
          return {
            unavailable:
              `${inner.describe} is the policy of organization "${view.policy.organization}", but this machine's organization ` +
              `is "${org}" (${organization.origin}); it is not enforced`,
          };
        }),
      ),
    badgeOf: (namespace, view) => inner.badgeOf(namespace, view),
    close: () => inner.close(),
  };
}

/** Said when `auto` reads the organisation's policy from Docker Hub because no other source is configured. */
export function hubFallbackNote(org: string): string {
  return `IMAGE_ACCESS_POLICY is not set: the policy of organization "${org}" is read from Docker Hub`;
}

/**
 * `IMAGE_ACCESS_POLICY=auto` (the default): with an organisation configured, its own policy from Docker Hub (`hub`);
 * with none, the demo policy. Asked per pull, so a registry.json that appears switches from the demo to the Hub.
 */
export function autoSource(organization: OrganizationResolver, hub: PolicySource, demo: PolicySource): PolicySource {
  // The Hub source answers with the same view pull after pull: so does this.
  const noted = lastMade((view: PolicyView, org: string): PolicyView => ({ ...view, note: hubFallbackNote(org) }));
  return {
    describe: `auto (${hub.describe} for a configured organization, else ${BUILTIN})`,
    policyFor: (user) =>
      then(organization.current(), (org) => {
        if (org === undefined) {
          return then(demo.policyFor(user), (view): PolicyView | PolicyUnavailable =>
            isUnavailable(view) ? view : { ...view, note: `no organization is configured (IMAGE_ACCESS_ORG or registry.json): ${DEMO_NOTICE}` },
          );
        }
        return then(hub.policyFor(user), (view): PolicyView | PolicyUnavailable => {
          if (isUnavailable(view)) return { unavailable: `${hubFallbackNote(org)}: ${view.unavailable}` };
          return noted(view, org);
        });
      }),
    badgeOf: (namespace, view) => (view.source === BUILTIN ? demo : hub).badgeOf(namespace, view),
    close: () => {
      hub.close();
      demo.close();
    },
  };
}
