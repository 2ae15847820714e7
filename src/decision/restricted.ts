import type { OrgPolicy } from '../policy/policy';
import type { Identity, Membership } from '../subject/subject';
import type { ContentActivity } from '../recognition/recognized';
import { withPolicyNotice, type Decision } from './decide';

/**
 * Decisions for requests that are not pulls of a named image: routes that create images from content the plugin
 * cannot inspect (a setting allows each or not), and changes to this plugin itself (owners only, when protected).
 * Content of unknown origin is reported under the strictest category, `community`.
 */
export type RestrictedActivity = ContentActivity | 'plugin-change';

interface ActivityText {
  /** What the user tried, as a sentence subject. */
  readonly doing: string;
  readonly setting: string;
  /** Why the plugin cannot judge it. */
  readonly why: string;
}

const UNCHECKABLE = 'the images it brings cannot be checked against Image Access Management';

const ACTIVITIES: Readonly<Record<RestrictedActivity, ActivityText>> = {
  import: { doing: 'Importing images (docker import)', setting: 'IMAGE_ACCESS_ALLOW_IMPORT', why: UNCHECKABLE },
  load: { doing: 'Loading images from an archive (docker load)', setting: 'IMAGE_ACCESS_ALLOW_LOAD', why: UNCHECKABLE },
  'plugin-create': {
    doing: 'Creating plugins from an archive (docker plugin create)',
    setting: 'IMAGE_ACCESS_ALLOW_LOAD',
    why: 'the plugin image it brings cannot be checked against Image Access Management',
  },
  build: {
    doing: 'Building images (docker build, BuildKit)',
    setting: 'IMAGE_ACCESS_ALLOW_BUILD',
    why: 'builders pull their FROM images inside the engine, where Image Access Management cannot check them',
  },
  commit: {
    doing: 'Committing containers to images (docker commit)',
    setting: 'IMAGE_ACCESS_ALLOW_BUILD',
    why: 'what a container holds cannot be checked against Image Access Management',
  },
  'plugin-change': {
    doing: 'Disabling, removing, reconfiguring or upgrading the image-access plugin',
    setting: 'IMAGE_ACCESS_PROTECT_PLUGIN',
    why: 'it enforces Image Access Management on this host',
  },
};

export interface RestrictedInput {
  readonly activity: RestrictedActivity;
  /** Where the content comes from, or which plugin change: for the log line. */
  readonly detail: string;
  readonly identity: Identity;
  /** The organisation policy, or why none could be had. */
  readonly policy: OrgPolicy | { readonly unavailable: string };
  readonly membership?: Membership;
  /** Why this host cannot check the activity, and what fixes it, when not the activity's usual reason and setting. */
  readonly unchecked?: { readonly why: string; readonly remedy: string };
}

const isOwner = (identity: Identity, policy: OrgPolicy, membership: Membership | undefined): boolean =>
  membership === 'owner' || (identity.username !== undefined && policy.owners.includes(identity.username));

/** The setting allows the activity for everyone: no policy or identity is needed. */
export function activityAllowedBySetting(activity: RestrictedActivity, detail: string): Decision {
  return {
    allow: true,
    category: 'community',
    rule: 'activity-allowed',
    reason: `${activity} from ${detail} is allowed by ${ACTIVITIES[activity].setting}`,
    message: '',
  };
}

/** The setting does not allow the activity: only the organisation's owners may, and anyone when IAM is off. */
export function decideRestricted(input: RestrictedInput): Decision {
  return 'unavailable' in input.policy ? decideActivity(input) : withPolicyNotice(decideActivity(input), input.policy);
}

function decideActivity({ activity, detail, identity, policy, membership, unchecked }: RestrictedInput): Decision {
  const text = ACTIVITIES[activity];
  const rule = activity === 'plugin-change' ? 'plugin-protected' : 'activity-not-allowed';
  if ('unavailable' in policy) {
    return {
      allow: false,
      category: 'community',
      rule,
      reason: `${activity} from ${detail}: no policy to find owners in (${policy.unavailable})`,
      message:
        `Image Access Management: ${text.doing} is allowed only for organization owners on this host, and the organization ` +
        `policy is unavailable (${policy.unavailable}); try again shortly or contact your Docker administrator.`,
    };
  }
  const org = policy.organization;
  const allow = (allowRule: Decision['rule'], reason: string): Decision => ({ allow: true, category: 'community', rule: allowRule, reason, message: '' });
  // The plugin stays protected while IAM is off: the organisation may turn it on at any time.
  if (activity !== 'plugin-change' && !policy.restrictedImages.enabled) {
    return allow('iam-disabled', `Image Access Management is off for organization "${org}"`);
  }
  if (isOwner(identity, policy, membership)) return allow('owner', `${identity.username ?? 'the user'} is an owner of "${org}"`);
  const who = identity.username === undefined ? 'nobody signed in' : identity.username;
  return {
    allow: false,
    category: 'community',
    rule,
    reason: `${activity} from ${detail} refused: ${who} is not an owner of "${org}"`,
    message:
      `Image Access Management: ${text.doing} is not allowed on this host, because ${unchecked?.why ?? text.why}. Only owners of ` +
      `organization "${org}" may do it; ${unchecked?.remedy ?? `a Docker administrator can change this with ${text.setting}`}.`,
  };
}
