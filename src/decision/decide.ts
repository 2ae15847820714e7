import { registryAllowlisted, repositoryAllowlisted, type SameRegistry } from '../policy/allowlist';
import { DOCKER_HUB, formatReference, isDockerHub, type ImageReference } from '../reference/reference';
import { DEMO_NOTICE } from '../policy/default-policy';
import type { OrgPolicy } from '../policy/policy';
import type { Identity, Membership } from '../subject/subject';
import { CATEGORY_DESCRIPTION, type ImageCategory } from './category';

/** Which rule settled the decision; stable names for logs, metrics and tests. */
export type DecisionRule =
  | 'registry-not-allowed'
  | 'outside-hub'
  | 'sign-in-required'
  | 'iam-disabled'
  | 'owner'
  | 'own-organization'
  | 'official-allowed'
  | 'verified-publisher-allowed'
  | 'repository-allowlisted'
  | 'category-not-allowed'
  | 'invalid-reference'
  | 'fail-open'
  | 'fail-closed'
  /** Routes whose content cannot be checked (import, load, build...), allowed or refused by a setting. */
  | 'activity-allowed'
  | 'activity-not-allowed'
  /** A non-owner trying to disable, remove, reconfigure or upgrade this plugin. */
  | 'plugin-protected';

export interface DecisionInput {
  readonly image: ImageReference;
  readonly category: ImageCategory;
  readonly identity: Identity;
  readonly policy: OrgPolicy;
  /** Enforced sign-in: every Docker Hub pull needs a signed-in member of the organisation. Absent: off. */
  readonly requireSignIn?: boolean;
  /** The user's standing in the organisation, when the policy source knows it. */
  readonly membership?: Membership;
  /**
   * Whether a registry allowlist entry names the image's registry, from host resolutions made at the edge (where
   * dockerd will connect); absent: by spelling.
   */
  readonly sameRegistry?: SameRegistry;
}

export interface Decision {
  readonly allow: boolean;
  readonly category: ImageCategory;
  readonly rule: DecisionRule;
  /** One line for logs. */
  readonly reason: string;
  /** What the developer reads after `authorization denied by plugin ...:`; empty when allowed. */
  readonly message: string;
}

const allow = (category: ImageCategory, rule: DecisionRule, reason: string): Decision => ({
  allow: true,
  category,
  rule,
  reason,
  message: '',
});

/** The categories an organisation's policy lets its members pull, in words. */
export function allowedCategoriesText(policy: OrgPolicy): string {
  const allowed: string[] = [];
  if (policy.restrictedImages.allowOfficialImages) allowed.push('Docker Official Images');
  if (policy.restrictedImages.allowVerifiedPublishers) allowed.push('Verified Publisher images');
  allowed.push('its own images');
  return allowed.length === 1 ? allowed[0]! : `${allowed.slice(0, -1).join(', ')} and ${allowed[allowed.length - 1]!}`;
}

/**
 * Enforced sign-in, as Docker Desktop's `allowedOrgs` enforces it for all Docker Hub use, whether or not Image Access
 * Management is on: a Hub pull by nobody, or by someone the policy source says is not a member, is refused. A user
 * whose membership is unknown (a policy file lists owners, not members) passes on the strength of being signed in.
 * `undefined` when the pull may go on to the other rules.
 */
export function refuseWithoutSignIn(
  image: ImageReference,
  category: ImageCategory,
  identity: Identity,
  membership: Membership | undefined,
  organization: string | undefined,
): Decision | undefined {
  if (!isDockerHub(image)) return undefined;
  const account = organization === undefined ? 'organization account' : `"${organization}" organization account`;
  const them = organization === undefined ? 'your organization' : `organization "${organization}"`;
  const retry = `Run \`docker login\` with your ${account}, then pull ${formatReference(image)} again.`;
  if (membership === 'none') {
    const who = identity.username ?? 'the signed-in account';
    return {
      allow: false,
      category,
      rule: 'sign-in-required',
      reason: `${who} is not a member of ${them}`,
      message: `Image Access Management: Docker Hub pulls on this machine require a member of ${them}, and ${who} is not one. ${retry}`,
    };
  }
  if (membership === undefined && identity.username === undefined) {
    return {
      allow: false,
      category,
      rule: 'sign-in-required',
      reason: `nobody is signed in to Docker Hub, and ${them} requires sign-in`,
      message: `Image Access Management: Docker Hub pulls on this machine require signing in as a member of ${them}. ${retry}`,
    };
  }
  return undefined;
}

/** A denial under the embedded demo policy says so: nobody should mistake it for their organisation's rules. */
export function withPolicyNotice(decision: Decision, policy: OrgPolicy): Decision {
  if (decision.allow || policy.demo !== true) return decision;
  return { ...decision, message: `${decision.message} Note: ${DEMO_NOTICE}.` };
}

/** The pure Image Access Management decision: no I/O, no clock. */
export function decide(input: DecisionInput): Decision {
  return withPolicyNotice(decideRules(input), input.policy);
}

function decideRules({ image, category, identity, policy, requireSignIn = false, membership, sameRegistry }: DecisionInput): Decision {
  const org = policy.organization;
  // Registry Access Management binds everyone, owners included, so it comes first.
  if (policy.registryAllowlist !== undefined && !registryAllowlisted(image, policy.registryAllowlist, sameRegistry)) {
    return {
      allow: false,
      category,
      rule: 'registry-not-allowed',
      reason: `registry ${image.domain} is not in the registry allowlist of organization "${org}"`,
      message:
        `Registry Access Management: ${formatReference(image)} comes from ${image.domain}, and organization "${org}" only ` +
        `allows pulls from ${policy.registryAllowlist.join(', ') || 'no registry'}. Ask an owner of "${org}" to allow it.`,
    };
  }
  if (category === 'outside_hub') {
    return allow(category, 'outside-hub', 'image is not on Docker Hub; Image Access Management does not apply');
  }
  const refusal = requireSignIn ? refuseWithoutSignIn(image, category, identity, membership, org) : undefined;
  if (refusal !== undefined) return refusal;
  if (!policy.restrictedImages.enabled) {
    return allow(category, 'iam-disabled', `Image Access Management is off for organization "${org}"`);
  }
  if (identity.username !== undefined && policy.owners.includes(identity.username)) {
    return allow(category, 'owner', `${identity.username} is an owner of "${org}"`);
  }
  if (category === 'organization') {
    return allow(category, 'own-organization', `image belongs to organization "${org}"`);
  }
  if (policy.repositoryAllowlist !== undefined && repositoryAllowlisted(image, policy.repositoryAllowlist)) {
    return allow(category, 'repository-allowlisted', `${formatReference(image)} is allowed by the repository allowlist of "${org}"`);
  }
  if (category === 'official' && policy.restrictedImages.allowOfficialImages) {
    return allow(category, 'official-allowed', 'Docker Official Images are allowed');
  }
  if (category === 'verified_publisher' && policy.restrictedImages.allowVerifiedPublishers) {
    return allow(category, 'verified-publisher-allowed', 'Verified Publisher images are allowed');
  }
  const description = CATEGORY_DESCRIPTION[category];
  return {
    allow: false,
    category,
    rule: 'category-not-allowed',
    reason: `${description} is not allowed by organization "${org}"`,
    message:
      `Image Access Management: ${formatReference(image)} is ${description}, and organization "${org}" only allows ` +
      `${allowedCategoriesText(policy)}. Ask an owner of "${org}" to allow it, or use an allowed image.`,
  };
}

/** A reference the engine would refuse too; denied so that nothing odd slips past the classifier. */
export function decideInvalidReference(image: string, problem: string): Decision {
  return {
    allow: false,
    category: 'community',
    rule: 'invalid-reference',
    reason: problem,
    message: `Image Access Management: cannot check ${JSON.stringify(image)}: ${problem}`,
  };
}

/**
 * A registry host that could not be resolved while Docker Hub mirrors are known: it may be a mirror under another
 * name, so it is not waved through as "outside Docker Hub" unless the fail mode is open.
 */
export function decideUnresolvedRegistry(image: ImageReference, cause: string, failMode: 'open' | 'closed'): Decision {
  const reason = `cannot tell whether registry ${image.domain} is a Docker Hub mirror: ${cause}`;
  if (failMode === 'open') return allow('outside_hub', 'fail-open', reason);
  return {
    allow: false,
    category: 'outside_hub',
    rule: 'fail-closed',
    reason,
    message:
      `Image Access Management: cannot check ${formatReference(image)}: its registry ${image.domain} could not be resolved ` +
      `to tell whether it is this engine's Docker Hub mirror (${cause}); try again shortly or contact your Docker administrator.`,
  };
}

/** No policy could be had at all: images outside Docker Hub are unaffected, Hub pulls follow the fail mode. */
export function decideWithoutPolicy(image: ImageReference, cause: string, failMode: 'open' | 'closed'): Decision {
  if (!isDockerHub(image)) {
    return allow('outside_hub', 'outside-hub', 'image is not on Docker Hub; Image Access Management does not apply');
  }
  const reason = `no policy available: ${cause}`;
  if (failMode === 'open') return allow('community', 'fail-open', reason);
  return {
    allow: false,
    category: 'community',
    rule: 'fail-closed',
    reason,
    message:
      `Image Access Management: cannot check ${formatReference(image)} because the organization policy is unavailable ` +
      `(${cause}). Docker Hub pulls are blocked until it can be fetched; try again shortly or contact your Docker administrator.`,
  };
}

/**
 * A connection the registry gateway tunnels without looking inside (any host but Docker Hub's registry): Registry
 * Access Management alone applies, to `registryHost` as dockerd dials it. Docker Hub's own auth and blob hosts count
 * as docker.io, so Hub pulls work exactly when docker.io is allowed. `sameRegistry` tells registries apart as for pulls.
 */
export function decideRegistryConnection(
  host: string,
  registryHost: string,
  policy: OrgPolicy | undefined,
  sameRegistry?: SameRegistry,
): Decision {
  // No policy to be had: registries other than Docker Hub are unaffected, as for pulls; Hub fetches are judged inside.
  const allowlist = policy?.registryAllowlist;
  if (allowlist === undefined || registryAllowlisted({ domain: registryHost, path: '' }, allowlist, sameRegistry)) {
    return allow('outside_hub', 'outside-hub', `connection to ${host} is not a Docker Hub image fetch`);
  }
  const org = policy!.organization;
  const shown = registryHost === DOCKER_HUB ? `${host} (Docker Hub)` : host;
  return {
    allow: false,
    category: 'outside_hub',
    rule: 'registry-not-allowed',
    reason: `registry ${shown} is not in the registry allowlist of organization "${org}"`,
    message:
      `Registry Access Management: dockerd may not connect to ${shown}: organization "${org}" only allows pulls from ` +
      `${allowlist.join(', ') || 'no registry'}. Ask an owner of "${org}" to allow it.`,
  };
}
