import { hubNamespace, isDockerHub, isOfficialImage, type ImageReference } from '../reference/reference';
import type { Badge } from '../policy/policy';

/** What Image Access Management calls the kinds of images. */
export type ImageCategory =
  | 'organization'
  | 'official'
  | 'verified_publisher'
  | 'open_source'
  | 'community'
  | 'outside_hub';

/** Classifies an image from its reference and the badge of its Hub namespace (undefined: no badge). */
export function categorize(image: ImageReference, organization: string, badge: Badge | undefined): ImageCategory {
  if (!isDockerHub(image)) return 'outside_hub';
  if (isOfficialImage(image)) return 'official';
  const namespace = hubNamespace(image);
  // A one-component repository, named through a mirror: content of no Hub owner.
  if (namespace === '') return 'community';
  if (namespace === organization) return 'organization';
  return badge ?? 'community';
}

export const CATEGORY_DESCRIPTION: Readonly<Record<ImageCategory, string>> = {
  organization: "one of the organization's own images",
  official: 'a Docker Official Image',
  verified_publisher: 'a Verified Publisher image',
  open_source: 'a Sponsored Open Source image',
  community: 'a community image',
  outside_hub: 'an image outside Docker Hub',
};
