import type { OrgPolicy } from './policy';

/** The demo's organisation when none is configured: a placeholder nobody's policy belongs to. */
export const DEMO_ORGANIZATION = 'acme';

/** Said wherever the demo policy is in force: start-up log, status, denial messages. */
export const DEMO_NOTICE =
  "this is image-access's embedded demo policy, for `make run` and demos only, not an organization's own; " +
  'an administrator sets IMAGE_ACCESS_ORG (and IMAGE_ACCESS_POLICY for a file or URL) to enforce the real one';

/**
 * The embedded policy `make run` uses on a fresh, offline machine: Image Access Management on for a demo
 * organisation, with a small offline badge catalogue of well-known Hub namespaces.
 */
export function defaultPolicy(organization = DEMO_ORGANIZATION): OrgPolicy {
  return {
    organization,
    restrictedImages: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true },
    owners: [],
    badges: new Map([
      ['bitnami', 'verified_publisher'],
      ['grafana', 'verified_publisher'],
      ['hashicorp', 'verified_publisher'],
      ['ubuntu', 'verified_publisher'],
      ['circleci', 'verified_publisher'],
      ['apache', 'open_source'],
      ['jenkins', 'open_source'],
      ['mlrun', 'open_source'],
    ]),
    demo: true,
  };
}
