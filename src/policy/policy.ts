/**
 * The organisation policy. Its shape mirrors Docker Hub's `GET /v2/orgs/{org}/settings` reply
 * (`restricted_images`), so the file source, the URL source and the Hub source share one parser.
 */
import { z } from 'zod';
import { parseRegistryHost, parseRepositoryPattern, type EntryParseResult, type RepositoryPattern } from './allowlist';

export const BADGES = ['verified_publisher', 'open_source'] as const;
export type Badge = (typeof BADGES)[number];

export interface RestrictedImages {
  /** Image Access Management on: only the allowed categories (and the organisation's own images) may be pulled. */
  readonly enabled: boolean;
  readonly allowOfficialImages: boolean;
  readonly allowVerifiedPublishers: boolean;
}

export interface OrgPolicy {
  readonly organization: string;
  readonly restrictedImages: RestrictedImages;
  /** Hub usernames (lowercase) of the organisation's owners: they may pull everything. */
  readonly owners: readonly string[];
  /**
   * Offline catalogue of Docker Hub namespace badges; namespaces not listed are community. A Map: a namespace
   * called `constructor` or `__proto__` must not find Object.prototype's members.
   */
  readonly badges: ReadonlyMap<string, Badge>;
  /** Docker Hub repositories (or `namespace/*`) allowed whatever their category. */
  readonly repositoryAllowlist?: readonly RepositoryPattern[];
  /** When set, only images from these registry hosts may be pulled (Docker Hub is `docker.io` and must be listed). */
  readonly registryAllowlist?: readonly string[];
  /** The embedded demo policy (`make run`): every denial and status says so. */
  readonly demo?: true;
}

export const restrictedImagesSchema = z
  .object({
    enabled: z.boolean(),
    allow_official_images: z.boolean().default(true),
    allow_verified_publishers: z.boolean().default(true),
  })
  .passthrough();

const hubName = z
  .string()
  .min(1)
  .max(255)
  .transform((name) => name.toLowerCase());

/** A list of entries each normalised by `parse`; the first entry that does not parse fails the document. */
function normalisedList<T>(parse: (entry: string) => EntryParseResult<T>) {
  return z.array(z.string()).transform((entries, context): T[] => {
    const values: T[] = [];
    for (const [index, entry] of entries.entries()) {
      const result = parse(entry);
      if (result.ok) values.push(result.value);
      else context.addIssue({ code: z.ZodIssueCode.custom, path: [index], message: result.error });
    }
    return values;
  });
}

export const policyDocumentSchema = z.object({
  organization: hubName,
  restricted_images: restrictedImagesSchema,
  owners: z.array(hubName).default([]),
  badges: z.record(z.enum(BADGES)).default({}),
  repository_allowlist: normalisedList(parseRepositoryPattern).optional(),
  registry_allowlist: normalisedList(parseRegistryHost).optional(),
});

export function toRestrictedImages(raw: z.infer<typeof restrictedImagesSchema>): RestrictedImages {
  return {
    enabled: raw.enabled,
    allowOfficialImages: raw.allow_official_images,
    allowVerifiedPublishers: raw.allow_verified_publishers,
  };
}

export type PolicyParseResult = { ok: true; policy: OrgPolicy } | { ok: false; error: string };

/** Validates a policy document (already JSON-decoded) once, at the edge. */
export function parsePolicyDocument(data: unknown): PolicyParseResult {
  const parsed = policyDocumentSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { ok: false, error: `invalid policy document: ${where}${issue?.message ?? 'unknown problem'}` };
  }
  const doc = parsed.data;
  const badges = new Map(Object.entries(doc.badges).map(([namespace, badge]) => [namespace.toLowerCase(), badge]));
  return {
    ok: true,
    policy: {
      organization: doc.organization,
      restrictedImages: toRestrictedImages(doc.restricted_images),
      owners: doc.owners,
      badges,
      ...(doc.repository_allowlist === undefined ? {} : { repositoryAllowlist: doc.repository_allowlist }),
      ...(doc.registry_allowlist === undefined ? {} : { registryAllowlist: doc.registry_allowlist }),
    },
  };
}

export function parsePolicyText(text: string): PolicyParseResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `policy is not valid JSON: ${(error as Error).message}` };
  }
  return parsePolicyDocument(data);
}
