/** The images, identities and policy the decision tables are written against (organization acme, owner alice). */
import type { ImageCategory } from '../../src/decision/category';
import type { Identity } from '../../src/subject/subject';
import type { OrgPolicy } from '../../src/policy/policy';
import { parseReference, type ImageReference } from '../../src/reference/reference';

export function ref(text: string): ImageReference {
  const parsed = parseReference(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.reference;
}

export const IMAGE_OF: Readonly<Record<ImageCategory, string>> = {
  organization: 'acme/app:1.0',
  official: 'alpine:3.20',
  verified_publisher: 'bitnami/redis:7',
  open_source: 'someoss/tool:1',
  community: 'someone/app:1.0',
  outside_hub: 'ghcr.io/someone/app:1.0',
};
export const CATEGORIES = Object.keys(IMAGE_OF) as ImageCategory[];
export const IDENTITIES: Readonly<Record<string, Identity>> = {
  owner: { username: 'alice', source: 'test' },
  member: { username: 'bob', source: 'test' },
  'signed-out': { source: 'none' },
};

export function policy(enabled: boolean, allowOfficialImages: boolean, allowVerifiedPublishers: boolean): OrgPolicy {
  return {
    organization: 'acme',
    restrictedImages: { enabled, allowOfficialImages, allowVerifiedPublishers },
    owners: ['alice'],
    badges: new Map([['bitnami', 'verified_publisher'], ['someoss', 'open_source']]),
  };
}
