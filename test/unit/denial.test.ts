import winston from 'winston';
import { Authorizer } from '../../src/authorizer';
import { decide, decideInvalidReference, type Decision } from '../../src/decision/decide';
import { denialMessage, MAX_MESSAGE_CHARS } from '../../src/decision/denial';
import { loadSettings } from '../../src/config/settings';
import type { SignedInUser } from '../../src/identity/identity';
import { staticSource } from '../../src/policy/file-source';
import { parsePolicyDocument } from '../../src/policy/policy';
import { bareRequest } from '../../src/protocol/wire';
import { IDENTITIES, policy, ref } from './decision-fixtures';

const denied = decide({ image: ref('someone/app:1.0'), category: 'community', identity: IDENTITIES.member!, policy: policy(true, true, true) });

describe('denialMessage', () => {
  test('the rule, who the plugin saw and where, and whom to ask follow the rule message', () => {
    const identity = { username: 'bob', source: 'docker-config', lookedIn: '/root/.docker/config.json' };
    expect(denialMessage(denied, { identity, contact: '#docker-help on Slack' })).toBe(
      `${denied.message} [image-access: rule category-not-allowed; signed in as bob (found by docker-config in /root/.docker/config.json). ` +
        'Help: #docker-help on Slack]',
    );
  });

  test('nobody signed in: every place looked in is named; no contact: the administrator', () => {
    const identity = { source: 'none', lookedIn: 'the X-Registry-Auth header, /root/.docker/config.json' };
    expect(denialMessage(denied, { identity })).toBe(
      `${denied.message} [image-access: rule category-not-allowed; nobody is signed in (looked in the X-Registry-Auth header, ` +
        '/root/.docker/config.json). Help: ask your Docker administrator]',
    );
  });

  test('without an identity (an invalid reference is refused before anyone is looked up) the identity is left out', () => {
    const invalid = decideInvalidReference('Some/App', 'invalid reference format');
    expect(denialMessage(invalid, {})).toBe(`${invalid.message} [image-access: rule invalid-reference. Help: ask your Docker administrator]`);
  });

  test('an allowed decision has no message', () => {
    const allowed: Decision = { allow: true, category: 'official', rule: 'official-allowed', reason: 'ok', message: '' };
    expect(denialMessage(allowed, { contact: 'x' })).toBe('');
  });

  test(`bounded: never more than ${MAX_MESSAGE_CHARS} characters and a marker`, () => {
    const long = { ...denied, message: 'm'.repeat(5000) };
    const message = denialMessage(long, { contact: 'c' });
    expect(message.length).toBeLessThan(MAX_MESSAGE_CHARS + 50);
    expect(message).toMatch(/\.\.\.\[cut: \d+ more characters\]$/);
  });
});

describe('the admin contact', () => {
  test('a policy document may name one: one line, at most 200 characters', () => {
    const doc = (admin_contact: unknown) => parsePolicyDocument({ organization: 'acme', restricted_images: { enabled: true }, admin_contact });
    expect(doc(' docker-admins@acme.example ')).toMatchObject({ ok: true, policy: { adminContact: 'docker-admins@acme.example' } });
    expect(doc('a\nb')).toMatchObject({ ok: false, error: expect.stringContaining('admin_contact: must be one line of text') });
    expect(doc('x'.repeat(201)).ok).toBe(false);
  });

  test('IMAGE_ACCESS_ADMIN_CONTACT likewise; empty is none', () => {
    expect(loadSettings({ IMAGE_ACCESS_ADMIN_CONTACT: '#docker-help' }, []).adminContact).toBe('#docker-help');
    expect(loadSettings({}, []).adminContact).toBeUndefined();
    expect(() => loadSettings({ IMAGE_ACCESS_ADMIN_CONTACT: 'a\u0007b' }, [])).toThrow('IMAGE_ACCESS_ADMIN_CONTACT');
  });

  async function deniedMessage(adminContact: string | undefined, policyContact: string | undefined, user: SignedInUser): Promise<string> {
    const base = policy(true, true, true);
    const authz = new Authorizer({
      policySource: staticSource(policyContact === undefined ? base : { ...base, adminContact: policyContact }, 'test', 0),
      identity: { identify: () => Promise.resolve(user) },
      logger: winston.createLogger({ silent: true }),
      mode: 'enforce',
      failMode: 'closed',
      clock: () => 0,
      routes: { allowImport: false, allowLoad: false, allowBuild: true, protectPlugin: false, pluginName: 'image-access' },
      ...(adminContact === undefined ? {} : { adminContact }),
    });
    const reply = await authz.authorizeRequest(bareRequest('POST', '/v1.41/images/create?fromImage=someone%2Fapp&tag=1.0'));
    expect(reply.Allow).toBe(false);
    return reply.Msg;
  }

  const bob: SignedInUser = { username: 'bob', source: 'docker-config', lookedIn: '/root/.docker/config.json', credential: { kind: 'password', secret: 'S3cret-never-shown' } };

  test("the policy's contact wins over the setting's; the setting's is used when the policy names none", async () => {
    expect(await deniedMessage('#from-setting', 'owners@acme.example', bob)).toMatch(/Help: owners@acme\.example\]$/);
    expect(await deniedMessage('#from-setting', undefined, bob)).toMatch(/Help: #from-setting\]$/);
    expect(await deniedMessage(undefined, undefined, bob)).toMatch(/Help: ask your Docker administrator\]$/);
  });

  test('the message names the user and where they were found, never their secret', async () => {
    const message = await deniedMessage(undefined, undefined, bob);
    expect(message).toContain('docker.io/someone/app:1.0');
    expect(message).toContain('signed in as bob (found by docker-config in /root/.docker/config.json)');
    expect(message).not.toContain('S3cret');
  });
});
