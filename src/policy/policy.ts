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
  /** Whom a denied developer asks (a channel, an address): shown in every denial. */
  readonly adminContact?: string;
  /** The embedded demo policy (`make run`): every denial and status says so. */
  readonly demo?: true;
}

const restrictedImagesShape = {
  enabled: z.boolean(),
  allow_official_images: z.boolean().default(true),
  allow_verified_publishers: z.boolean().default(true),
};

/** As Docker Hub sends it: the Hub may grow fields, which are ignored. */
export const restrictedImagesSchema = z.object(restrictedImagesShape).passthrough();

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

/** A contact is repeated in every denial: one short line. */
export const MAX_CONTACT_CHARS = 200;
export const ONE_LINE = /^[^\u0000-\u001f\u007f]*$/;

/**
 * A policy document (file or URL) is written by hand: a key it does not know is a typo that would change enforcement
 * silently (`allow_oficial_images`, `badge`), so it is refused.
 */
export const policyDocumentSchema = z
  .object({
    organization: hubName,
    restricted_images: z.object(restrictedImagesShape).strict(),
    owners: z.array(hubName).default([]),
    badges: z.record(z.enum(BADGES)).default({}),
    repository_allowlist: normalisedList(parseRepositoryPattern).optional(),
    registry_allowlist: normalisedList(parseRegistryHost).optional(),
    admin_contact: z.string().trim().min(1).max(MAX_CONTACT_CHARS).regex(ONE_LINE, 'must be one line of text').optional(),
  })
  .strict();

/** The keys a document may have at each object path, for naming the one a typo meant. */
const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(policyDocumentSchema.shape),
  restricted_images: Object.keys(restrictedImagesShape),
};

/** Levenshtein distance: how many one-character edits turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The known key closest to `key`, or undefined when none is near enough to be what was meant. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate);
    if (best === undefined || distance < best.distance) best = { key: candidate, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(best.key.length / 3)) ? best.key : undefined;
}

/** Bounded: a document may hold a key of any length, and the message reaches logs and status. */
const MAX_KEY_SHOWN = 64;

function unknownKeyProblem(path: readonly (string | number)[], keys: readonly string[]): string {
  const where = path.join('.');
  const known = KNOWN_KEYS[where] ?? [];
  const key = keys[0] ?? '';
  const shown = JSON.stringify(key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}...` : key);
  const closest = closestKey(key, known);
  const hint = closest === undefined ? `known keys: ${known.join(', ')}` : `did you mean "${closest}"?`;
  return `unknown key ${shown}${where === '' ? '' : ` in ${where}`} (${hint})`;
}

export function toRestrictedImages(raw: z.infer<typeof restrictedImagesSchema>): RestrictedImages {
  return {
    enabled: raw.enabled,
    allowOfficialImages: raw.allow_official_images,
    allowVerifiedPublishers: raw.allow_verified_publishers,
  };
}

export type PolicyParseResult = { ok: true; policy: OrgPolicy } | { ok: false; error: string };

/** Validates a policy document (already JSON-decoded) once, at the edge: the file source's, the URL source's. */
export function parsePolicyDocument(data: unknown): PolicyParseResult {
  const parsed = policyDocumentSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue?.code === z.ZodIssueCode.unrecognized_keys) {
      return { ok: false, error: `invalid policy document: ${unknownKeyProblem(issue.path, issue.keys)}` };
    }
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
      ...(doc.admin_contact === undefined ? {} : { adminContact: doc.admin_contact }),
    },
  };
}

/** The one validation of a policy document's text, for the file and URL sources and any command that checks a document. */
export function parsePolicyText(text: string): PolicyParseResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `policy is not valid JSON: ${(error as Error).message}` };
  }
  return parsePolicyDocument(data);
}
