import type { OrgPolicy } from './policy';

/**
 * The embedded policy `make run` uses on a fresh, offline machine: Image Access Management on for a demo
 * organisation, with a small offline badge catalogue of well-known Hub namespaces.
 */
export function defaultPolicy(organization = 'acme'): OrgPolicy {
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
  };
}
