import type { AuthZRequest } from '../../src/protocol/wire';
import { recognize } from '../../src/recognition/recognize';
import { MAX_SERVICE_IMAGES } from '../../src/recognition/services';
import { withoutUserInfo } from '../../src/recognition/uri';
import { parseHubMirrors, parseReference, registryHostKey, viaHubMirror } from '../../src/reference/reference';

/** Unit counterparts of test/e2e/bypass.test.ts: spellings the real engine accepts that once slipped past. */

function request(uri: string, headers: Record<string, string>, body = ''): AuthZRequest {
  return {
    user: '',
    userAuthNMethod: '',
    requestMethod: 'POST',
    requestUri: uri,
    requestBody: body === '' ? '' : Buffer.from(body).toString('base64'),
    requestHeaders: headers,
    responseStatusCode: 0,
  };
}

describe('a body the plugin did not see, on a route judged by its query', () => {
  // The daemon forwards the last of repeated headers; Go's ParseForm reads the first Content-Type.
  test.each([
    ['/v1.41/images/create?fromImage=alpine', { 'content-type': 'text/plain', 'content-length': '24' }],
    ['/v1.41/images/create?fromImage=alpine', { 'content-type': 'application/json' }],
    ['/plugins/pull?remote=acme%2Fp', { 'content-type': 'application/json' }],
    ['/plugins/x/upgrade?remote=acme%2Fp', { 'content-type': 'text/plain', 'content-length': '3' }],
  ])('%s with %j is refused', (uri, headers) => {
    expect(recognize(request(uri, headers))).toEqual({ kind: 'reject', reason: expect.stringContaining('not forwarded for checking') });
  });

  test.each([
    ['/v1.41/images/create?fromImage=alpine', {}, ''],
    ['/v1.41/images/create?fromImage=alpine', { 'content-length': '0' }, ''],
    ['/v1.41/images/create?fromImage=alpine', { 'content-type': 'text/plain', 'content-length': '0' }, ''],
    ['/plugins/pull?remote=acme%2Fp', { 'content-type': 'application/json', 'content-length': '2' }, '[]'],
  ])('%s with %j and a body of %j is judged as usual', (uri, headers, body) => {
    expect(recognize(request(uri, headers, body)).kind).not.toBe('reject');
  });

  test('an import keeps its uploaded body (its setting decides)', () => {
    expect(recognize(request('/images/create?fromSrc=-', { 'content-type': 'text/plain' })).kind).toBe('unverifiable');
  });
});

describe('Docker Hub with its port spelled with leading zeros (Go dials :0443 as 443)', () => {
  test.each(['registry-1.docker.io:0443/someone/app', 'index.docker.io:00443/someone/app', 'docker.io:0443/someone/app'])('%s is Docker Hub', (image) => {
    expect(parseReference(image)).toEqual({ ok: true, reference: { domain: 'docker.io', path: 'someone/app' } });
  });

  test.each(['registry-1.docker.io:4430/someone/app', 'registry-1.docker.io:1443/someone/app'])('%s is another registry', (image) => {
    expect(parseReference(image)).toMatchObject({ ok: true, reference: { domain: image.split('/')[0] } });
  });
});

describe('masking user info stays linear', () => {
  test('a 500 kB reference of colons is masked in well under a second', () => {
    const started = Date.now();
    expect(withoutUserInfo('a:'.repeat(250_000))).toBe('a:'.repeat(250_000));
    expect(withoutUserInfo(`//${'a:'.repeat(250_000)}@host`)).toBe('***@host');
    expect(Date.now() - started).toBeLessThan(500);
  });

  test.each([
    ['///user:pass@host/x', '***@host/x'],
    ['u:p@host/x', '***@host/x'],
    // Up to the last `@`: more is hidden than the user info, never less.
    ['https://u:p@h/a?b=https://v:q@k', 'https://***@k'],
    ['repo:tag@sha256:abc', 'repo:tag@sha256:abc'],
    ['repo:tag@SHA512:abc', 'repo:tag@SHA512:abc'],
    ['a b:c@d', '***@d'],
  ])('%s is shown as %s', (text, shown) => {
    expect(withoutUserInfo(text)).toBe(shown);
  });
});

describe("the daemon's registry mirrors (IMAGE_ACCESS_HUB_MIRRORS) serve Docker Hub", () => {
  test('mirror hosts are read from URLs or bare hosts, in the spelling the engine dials', () => {
    expect(parseHubMirrors('https://Mirror.Example.com/, http://127.0.0.1:05000,mirror.gcr.io:443')).toEqual([
      'mirror.example.com',
      'localhost:5000',
      'mirror.gcr.io',
    ]);
    expect(parseHubMirrors('')).toEqual([]);
    expect(parseHubMirrors('https://x y')).toBeInstanceOf(Error);
  });

  test('an image named through a mirror is the Hub repository of the same path: no library/ is added', () => {
    const parsed = (image: string) => {
      const result = parseReference(image);
      if (!result.ok) throw new Error(result.error);
      return viaHubMirror(result.reference);
    };
    expect(parsed('127.0.0.1:5000/someone/app:1.0')).toEqual({ domain: 'docker.io', path: 'someone/app', tag: '1.0' });
    expect(parsed('127.0.0.1:5000/library/alpine')).toEqual({ domain: 'docker.io', path: 'library/alpine' });
    // dockerd asks the mirror for `someone`: the mirror's own repository, no Docker Official Image.
    expect(parsed('127.0.0.1:5000/someone:1.0')).toEqual({ domain: 'docker.io', path: 'someone', tag: '1.0' });
    expect(parseReference('127.0.0.1:5000/someone/app')).toMatchObject({ ok: true, reference: { domain: '127.0.0.1:5000' } });
  });
});

describe('a service spec repeating its image field', () => {
  const spec = (count: number) =>
    `{"TaskTemplate":{${Array.from({ length: count }, (_, i) => `"ContainerSpec":{"Image":"someone/app${i}"}`).join(',')}}}`;
  const service = (body: string) => recognize(request('/v1.41/services/create', { 'content-type': 'application/json' }, body));

  test('a few repeats are all judged (Go keeps the last; the plugin cannot know which one the client meant)', () => {
    expect(service(spec(MAX_SERVICE_IMAGES))).toMatchObject({ kind: 'image-use', route: 'service', images: expect.arrayContaining(['someone/app0']) });
    // The limit is exact: one more is refused.
    expect(service(spec(MAX_SERVICE_IMAGES + 1))).toEqual({ kind: 'reject', reason: expect.stringContaining(`more than ${MAX_SERVICE_IMAGES} images`) });
  });

  test('thousands of them are refused rather than judged one Hub lookup at a time', () => {
    expect(service(spec(5000))).toEqual({ kind: 'reject', reason: expect.stringContaining('more than') });
  });
});

describe('registry host spellings', () => {
  test.each([
    ['LOCALHOST:05000', 'localhost:5000'],
    ['127.0.0.1:5000', 'localhost:5000'],
    ['127.3.2.1', 'localhost'],
    ['[::1]:5000', 'localhost:5000'],
    ['[0:0:0:0:0:0:0:1]:443', 'localhost'],
    ['Registry-1.Docker.IO:0443', 'registry-1.docker.io'],
    ['mirror.example.com:80', 'mirror.example.com'],
    ['128.0.0.1:5000', '128.0.0.1:5000'],
    ['localhost.example.com', 'localhost.example.com'],
  ])('%s is reached as %s', (host, key) => {
    expect(registryHostKey(host)).toBe(key);
  });
});
