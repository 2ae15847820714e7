import { decide, refuseWithoutSignIn } from '../../src/decision/decide';
import type { Membership } from '../../src/subject/subject';
import { CATEGORIES, IDENTITIES, IMAGE_OF, policy, ref } from './decision-fixtures';

const MEMBERSHIPS: ReadonlyArray<Membership | undefined> = ['owner', 'member', 'none', undefined];

const cases = CATEGORIES.flatMap((category) =>
  [true, false].flatMap((enabled) =>
    [true, false].flatMap((requireSignIn) =>
      Object.keys(IDENTITIES).flatMap((who) => MEMBERSHIPS.map((membership) => ({ category, enabled, requireSignIn, who, membership }))),
    ),
  ),
);

/** The rule, stated once: with sign-in required, a Hub pull by nobody, or by a known non-member, is refused. */
function refusedForSignIn(c: (typeof cases)[number]): boolean {
  if (!c.requireSignIn || c.category === 'outside_hub') return false;
  return c.membership === 'none' || (c.membership === undefined && IDENTITIES[c.who]!.username === undefined);
}

describe('decide with enforced sign-in', () => {
  test.each(cases)('$category, IAM $enabled, sign-in required $requireSignIn, $who, membership $membership', (c) => {
    const input = { image: ref(IMAGE_OF[c.category]), category: c.category, identity: IDENTITIES[c.who]!, policy: policy(c.enabled, true, true) };
    const decision = decide({ ...input, requireSignIn: c.requireSignIn, membership: c.membership });
    if (refusedForSignIn(c)) {
      expect(decision).toMatchObject({ allow: false, rule: 'sign-in-required', category: c.category });
      expect(decision.message).toContain('docker login');
      expect(decision.message).toContain('"acme" organization account');
    } else {
      // Everything else is decided exactly as without the rule.
      expect(decision).toEqual(decide(input));
    }
  });

  test('the rule is off unless asked for', () => {
    const decision = decide({ image: ref('someone/app'), category: 'community', identity: IDENTITIES['signed-out']!, policy: policy(false, true, true) });
    expect(decision.rule).toBe('iam-disabled');
  });

  test('a signed-out developer is told to sign in with the organisation account', () => {
    const decision = decide({
      image: ref('alpine'),
      category: 'official',
      identity: { source: 'none' },
      policy: policy(true, true, true),
      requireSignIn: true,
    });
    expect(decision.reason).toBe('nobody is signed in to Docker Hub, and organization "acme" requires sign-in');
    expect(decision.message).toBe(
      'Image Access Management: Docker Hub pulls on this machine require signing in as a member of organization "acme". ' +
        'Run `docker login` with your "acme" organization account, then pull docker.io/library/alpine again.',
    );
  });

  test('a non-member is named and told which account to use', () => {
    const decision = decide({
      image: ref('alpine:3.20'),
      category: 'official',
      identity: { username: 'mallory', source: 'docker-config' },
      policy: policy(true, true, true),
      requireSignIn: true,
      membership: 'none',
    });
    expect(decision.reason).toBe('mallory is not a member of organization "acme"');
    expect(decision.message).toContain('and mallory is not one');
    expect(decision.message).toContain('Run `docker login` with your "acme" organization account');
  });

  test('a member known only by a token (no username) passes when the source vouches for the membership', () => {
    const refusal = refuseWithoutSignIn(ref('someone/app'), 'community', { source: 'docker-config' }, 'member', 'acme');
    expect(refusal).toBeUndefined();
  });
});

describe('refuseWithoutSignIn', () => {
  test('images outside Docker Hub are never refused', () => {
    expect(refuseWithoutSignIn(ref('ghcr.io/a/b'), 'outside_hub', { source: 'none' }, 'none', 'acme')).toBeUndefined();
    expect(refuseWithoutSignIn(ref('localhost:5000/a'), 'outside_hub', { source: 'none' }, undefined, undefined)).toBeUndefined();
  });

  test('without a known organisation the message still says what to do', () => {
    const refusal = refuseWithoutSignIn(ref('alpine'), 'official', { source: 'none' }, undefined, undefined);
    expect(refusal?.message).toBe(
      'Image Access Management: Docker Hub pulls on this machine require signing in as a member of your organization. ' +
        'Run `docker login` with your organization account, then pull docker.io/library/alpine again.',
    );
  });

  test('Hub aliases count as Docker Hub', () => {
    expect(refuseWithoutSignIn(ref('index.docker.io/someone/app'), 'community', { source: 'none' }, undefined, 'acme')?.rule).toBe(
      'sign-in-required',
    );
  });
});
