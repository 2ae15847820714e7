import { categorize } from '../../src/decision/category';
import { decide, decideInvalidReference, decideWithoutPolicy, type DecisionInput } from '../../src/decision/decide';
import { decideRestricted } from '../../src/decision/restricted';
import { CATEGORIES, IDENTITIES, IMAGE_OF, policy, ref } from './decision-fixtures';

const BOOLS = [true, false];
const cases = CATEGORIES.flatMap((category) =>
  BOOLS.flatMap((enabled) =>
    BOOLS.flatMap((allowOfficial) =>
      BOOLS.flatMap((allowVerified) =>
        Object.keys(IDENTITIES).map((who) => ({ category, enabled, allowOfficial, allowVerified, who })),
      ),
    ),
  ),
);

/** The Image Access Management rules, stated once as a specification of which cases are allowed. */
function expectedAllow(c: (typeof cases)[number]): boolean {
  if (c.category === 'outside_hub' || !c.enabled || c.who === 'owner' || c.category === 'organization') return true;
  if (c.category === 'official') return c.allowOfficial;
  if (c.category === 'verified_publisher') return c.allowVerified;
  return false;
}

describe('categorize', () => {
  test.each(CATEGORIES)('%s image is classified as such', (category) => {
    const image = ref(IMAGE_OF[category]);
    const badges = policy(true, true, true).badges;
    const namespace = image.path.split('/')[0]!;
    expect(categorize(image, 'acme', badges.get(namespace))).toBe(category);
  });

  test('an organisation name that is a prefix of a namespace does not own it', () => {
    expect(categorize(ref('acmeevil/app'), 'acme', undefined)).toBe('community');
  });

  test('an official image stays official even if the organisation is called library', () => {
    expect(categorize(ref('alpine'), 'library', undefined)).toBe('official');
  });
});

describe('decide: every category x policy x identity', () => {
  test(`${cases.length} combinations`, () => {
    expect(cases.length).toBe(6 * 2 * 2 * 2 * 3);
  });

  test.each(cases)('%j', (c) => {
    const decision = decide({
      image: ref(IMAGE_OF[c.category]),
      category: c.category,
      identity: IDENTITIES[c.who]!,
      policy: policy(c.enabled, c.allowOfficial, c.allowVerified),
    });
    expect(decision.allow).toBe(expectedAllow(c));
    expect(decision.category).toBe(c.category);
    expect(decision.reason).not.toBe('');
    if (decision.allow) {
      expect(decision.message).toBe('');
    } else {
      expect(decision.rule).toBe('category-not-allowed');
      expect(decision.message).toContain(`Image Access Management: docker.io/`);
      expect(decision.message).toContain('Ask an owner of "acme" to allow it, or use an allowed image.');
    }
  });
});

describe('decide: rules and messages', () => {
  const base = { identity: IDENTITIES.member!, policy: policy(true, true, true) };

  test('the deny message names the image, its category and what the organisation allows', () => {
    const decision = decide({ ...base, image: ref('someone/app:1.0'), category: 'community' });
    expect(decision.message).toBe(
      'Image Access Management: docker.io/someone/app:1.0 is a community image, and organization "acme" only allows ' +
        'Docker Official Images, Verified Publisher images and its own images. Ask an owner of "acme" to allow it, ' +
        'or use an allowed image.',
    );
  });

  test('the message lists only what the organisation allows', () => {
    const decision = decide({ ...base, policy: policy(true, false, false), image: ref('alpine'), category: 'official' });
    expect(decision.message).toContain('is a Docker Official Image, and organization "acme" only allows its own images.');
  });

  test('Sponsored Open Source images are named as such and denied', () => {
    const decision = decide({ ...base, image: ref('someoss/tool'), category: 'open_source' });
    expect(decision.allow).toBe(false);
    expect(decision.message).toContain('docker.io/someoss/tool is a Sponsored Open Source image');
  });

  test.each([
    ['owner', 'alice', 'community', 'owner'],
    ['own organization', 'bob', 'organization', 'own-organization'],
    ['official', 'bob', 'official', 'official-allowed'],
    ['verified publisher', 'bob', 'verified_publisher', 'verified-publisher-allowed'],
  ] as const)('%s is allowed by rule %s', (_name, username, category, rule) => {
    const decision = decide({ ...base, identity: { username, source: 'test' }, image: ref(IMAGE_OF[category]), category });
    expect(decision).toMatchObject({ allow: true, rule });
  });
});

describe('decisions without a usable policy', () => {
  test('fail closed denies Hub pulls and names the cause', () => {
    const decision = decideWithoutPolicy(ref('alpine'), 'Docker Hub timed out', 'closed');
    expect(decision).toMatchObject({ allow: false, rule: 'fail-closed' });
    expect(decision.message).toContain('docker.io/library/alpine');
    expect(decision.message).toContain('Docker Hub timed out');
  });

  test('fail open allows Hub pulls', () => {
    expect(decideWithoutPolicy(ref('someone/app'), 'down', 'open')).toMatchObject({ allow: true, rule: 'fail-open' });
  });

  test.each(['closed', 'open'] as const)('images outside Docker Hub are unaffected (fail %s)', (mode) => {
    expect(decideWithoutPolicy(ref('ghcr.io/a/b'), 'down', mode)).toMatchObject({ allow: true, rule: 'outside-hub' });
  });

  test('an invalid reference is denied with the parser problem', () => {
    const decision = decideInvalidReference('Alpine', 'repository name must be lowercase');
    expect(decision.allow).toBe(false);
    expect(decision.message).toBe('Image Access Management: cannot check "Alpine": repository name must be lowercase');
  });
});

describe('the embedded demo policy says so in every denial', () => {
  const demo = { ...policy(true, true, false), demo: true as const };
  const notice = /Note: this is image-access's embedded demo policy, for `make run` and demos only, not an organization's own; .*\.$/;

  test.each([
    ['a community image', { image: ref('someone/app'), category: 'community' as const }],
    ['sign-in required', { image: ref('alpine'), category: 'official' as const, requireSignIn: true, identity: IDENTITIES['signed-out']! }],
    ['a registry not allowed', { image: ref('ghcr.io/x/y'), category: 'outside_hub' as const, policy: { ...demo, registryAllowlist: ['docker.io'] } }],
  ] as Array<[string, Partial<DecisionInput> & Pick<DecisionInput, 'image' | 'category'>]>)('%s', (_name, input) => {
    const decision = decide({ identity: IDENTITIES.member!, policy: demo, ...input });
    expect(decision.allow).toBe(false);
    expect(decision.message).toMatch(notice);
    // The same denial under an organisation's own policy has no such note.
    const real = decide({ identity: IDENTITIES.member!, ...input, policy: { ...(input.policy ?? demo), demo: undefined } });
    expect(real.message).not.toContain('demo');
  });

  test('an allowed pull has no message at all', () => {
    expect(decide({ identity: IDENTITIES.member!, policy: demo, image: ref('alpine'), category: 'official' }).message).toBe('');
  });

  test('a refused activity under the demo policy says so too; with no policy at all there is nothing to note', () => {
    const activity = { activity: 'load' as const, detail: 'archive', identity: IDENTITIES.member! };
    expect(decideRestricted({ ...activity, policy: demo }).message).toMatch(notice);
    expect(decideRestricted({ ...activity, policy: policy(true, true, true) }).message).not.toContain('demo');
    expect(decideRestricted({ ...activity, policy: { unavailable: 'down' } }).message).not.toContain('demo');
  });
});
