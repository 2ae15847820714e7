import type { AuthZRequest } from '../../src/protocol/wire';
import { parseJsonKeepingDuplicates, MAX_JSON_DEPTH } from '../../src/recognition/json-body';
import { mayNamePlugin } from '../../src/recognition/plugins';
import { MAX_SHOWN_CHARS, shownValue, withoutUserInfo } from '../../src/recognition/uri';
import { parseReference } from '../../src/reference/reference';
import { recognize } from '../../src/recognition/recognize';

/** Every route of docker-facts.md "Ways images reach a host", as the daemon forwards it. */

function request(method: string, uri: string, options: { body?: string; headers?: Record<string, string> } = {}): AuthZRequest {
  return {
    user: '',
    userAuthNMethod: '',
    requestMethod: method,
    requestUri: uri,
    requestBody: options.body === undefined ? '' : Buffer.from(options.body).toString('base64'),
    requestHeaders: options.headers ?? {},
    responseStatusCode: 0,
  };
}

const post = (uri: string, options?: { body?: string; headers?: Record<string, string> }) => recognize(request('POST', uri, options));

describe('image routes: /images/create and /images/load', () => {
  test('fromImage is a pull, whatever else the query holds', () => {
    expect(post('/v1.41/images/create?fromImage=someone%2Fapp&tag=1.0&fromSrc=-')).toEqual({
      kind: 'pull',
      fromImage: 'someone/app',
      tag: '1.0',
    });
  });

  test.each([
    ['/v1.41/images/create?fromSrc=-&repo=acme%2Fapp&tag=1', 'an uploaded archive'],
    ['/images/create?fromSrc=https%3A%2F%2Fdeploy%3As3cr3t@files.example.com%2Fx.tar%3FX-Amz-Signature%3Dabc', 'a download from https://files.example.com'],
    ['/images/create?fromSrc=files.example.com%2Fx.tar', 'a download from http://files.example.com'],
    // No fromImage at all: dockerd's postImagesCreate imports (and fails on an empty source); never a silent pass.
    ['/images/create', 'no source'],
    ['/images/create?fromImage=&fromSrc=-', 'an uploaded archive'],
  ])('%s is an import from %s, credentials left out', (uri, detail) => {
    const recognized = post(uri);
    expect(recognized).toMatchObject({ kind: 'unverifiable', activity: 'import' });
    expect(recognized).toMatchObject({ detail: expect.stringContaining(detail) });
    expect(JSON.stringify(recognized)).not.toMatch(/s3cr3t|deploy|Signature|abc/);
  });

  test.each([
    ['http://daemon/v1.41/images/create?fromImage=someone%2Fevil', 'someone/evil'],
    ['HTTP://daemon:2375/images/create?fromImage=someone%2Fevil', 'someone/evil'],
    ['http:/v1.41/images/create?fromImage=someone%2Fevil', 'someone/evil'],
    ['unix://x?y/images/create?fromImage=someone%2Fevil', undefined],
    ['/v1.41/images/create?fromSrc=-#&fromImage=someone%2Fevil', 'someone/evil'],
    ['/v1.41/images/create?fromImage=someone%2Fevil#x', 'someone/evil#x'],
  ])('the request target %s is read as Go routes it', (uri, fromImage) => {
    const recognized = post(uri);
    if (fromImage === undefined) expect(recognized).toEqual({ kind: 'reject', reason: expect.stringContaining('unreadable request URI') });
    else expect(recognized).toEqual({ kind: 'pull', fromImage, tag: '' });
  });

  test('docker load is an upload the plugin cannot inspect', () => {
    expect(post('/v1.41/images/load?quiet=1')).toEqual({ kind: 'unverifiable', activity: 'load', detail: 'an uploaded image archive' });
  });

  test.each([
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-8',
    'APPLICATION/X-WWW-FORM-URLENCODED',
    ' application/x-www-form-urlencoded ;;',
    'multipart/form-data; boundary=x',
  ])('a form body (%j) is refused: it overrides query values the plugin sees', (contentType) => {
    const headers = { 'content-type': contentType };
    for (const uri of ['/v1.41/images/create?fromImage=alpine', '/images/create', '/images/load', '/plugins/pull?remote=x', '/build']) {
      expect(post(uri, { headers })).toMatchObject({ kind: 'reject', reason: expect.stringContaining('form-encoded') });
    }
  });

  test('a form-encoded body elsewhere is none of our business', () => {
    expect(post('/containers/create', { headers: { 'content-type': 'application/x-www-form-urlencoded' } })).toEqual({ kind: 'passthrough' });
  });

  test.each([
    ['GET', '/v1.41/images/create?fromImage=someone/evil'],
    ['POST', '/v1.41/images/someone%2Fevil/tag?repo=library%2Falpine'],
    ['POST', '/v1.41/images/alpine/push'],
    ['POST', '/v1.41/containers/create?name=x'],
    ['PUT', '/v1.41/containers/abc/archive?path=/'],
    ['DELETE', '/v1.41/images/someone/evil'],
  ])('%s %s brings no image and passes through', (method, uri) => {
    expect(recognize(request(method, uri))).toEqual({ kind: 'passthrough' });
  });
});

describe('build routes', () => {
  test.each([
    ['/v1.41/build?t=app&dockerfile=Dockerfile', 'build', 'an uploaded build context'],
    ['/build?remote=https%3A%2F%2Fuser%3Aghp_token%40github.com%2Facme%2Fapp.git%23main', 'build', 'a build context fetched from https://github.com'],
    ['/v1.41/build?version=2&session=abc', 'build', 'an uploaded build context'],
    ['/v1.41/session', 'build', 'a BuildKit session'],
    ['/grpc', 'build', 'the BuildKit API'],
    ['/v1.41/commit?container=abc&repo=someone%2Fapp', 'commit', 'a container'],
  ])('POST %s makes images from what the plugin cannot see', (uri, activity, detail) => {
    const recognized = post(uri);
    expect(recognized).toEqual({ kind: 'unverifiable', activity, detail });
    expect(JSON.stringify(recognized)).not.toContain('ghp_token');
  });

  test.each(['/v1.41/build/prune', '/build/cancel?id=x'])('POST %s passes through', (uri) => {
    expect(post(uri)).toEqual({ kind: 'passthrough' });
  });
});

describe('plugin routes', () => {
  test('docker plugin install: the remote is judged like a pull', () => {
    expect(post('/v1.41/plugins/pull?remote=vieux%2Fsshfs&name=sshfs', { body: '[]' })).toEqual({
      kind: 'image-use',
      route: 'plugin-install',
      images: ['vieux/sshfs'],
    });
    expect(post('/v1.41/plugins/pull')).toEqual({ kind: 'image-use', route: 'plugin-install', images: [''] });
  });

  test('docker plugin create uploads an archive', () => {
    expect(post('/v1.41/plugins/create?name=x')).toMatchObject({ kind: 'unverifiable', activity: 'plugin-create' });
  });

  test.each([
    ['POST', '/v1.41/plugins/image-access:latest/disable', 'disable', 'image-access:latest'],
    ['POST', '/v1.41/plugins/image-access%3Alatest/disable?force=1', 'disable', 'image-access:latest'],
    ['POST', '/v1.41/plugins%2Fimage-access%2Fdisable', 'disable', 'image-access'],
    ['POST', '/plugins/vieux/sshfs:latest/set', 'set', 'vieux/sshfs:latest'],
    ['POST', '/plugins/x/upgrade/set', 'set', 'x/upgrade'],
    ['DELETE', '/v1.41/plugins/image-access?force=1', 'remove', 'image-access'],
    ['delete', '/plugins/3f2a', 'remove', '3f2a'],
  ])('%s %s changes plugin %s', (method, uri, action, plugin) => {
    expect(recognize(request(method, uri))).toEqual({ kind: 'plugin-change', action, plugin });
  });

  test('docker plugin upgrade changes the plugin and installs a remote', () => {
    expect(post('/v1.41/plugins/image-access/upgrade?remote=someone%2Fevil-plugin')).toEqual({
      kind: 'plugin-change',
      action: 'upgrade',
      plugin: 'image-access',
      remote: 'someone/evil-plugin',
    });
  });

  test.each([
    ['POST', '/v1.41/plugins/image-access/enable'],
    ['POST', '/v1.41/plugins/image-access/push'],
    ['GET', '/v1.41/plugins/image-access/json'],
  ])('%s %s passes through', (method, uri) => {
    expect(recognize(request(method, uri))).toEqual({ kind: 'passthrough' });
  });
});

describe('mayNamePlugin follows the daemon plugin store (resolvePluginID)', () => {
  test.each([
    ['image-access', 'image-access', true],
    ['image-access:latest', 'image-access', true],
    ['docker.io/library/image-access:latest', 'image-access', true],
    ['image-access', 'image-access:latest', true],
    ['image-access:v2', 'image-access', false],
    ['other', 'image-access', false],
    ['acme/image-access', 'acme/image-access:1.0', false],
    ['acme/image-access:1.0', 'acme/image-access:1.0', true],
    // The plugin cannot know its ID: anything that could be an ID prefix may be it.
    ['3f2a', 'image-access', true],
    ['a'.repeat(64), 'image-access', true],
    // Names the daemon cannot resolve at all.
    ['Image-Access', 'image-access', false],
    ['image-access@sha256:' + 'a'.repeat(64), 'image-access', false],
  ])('%s names %s: %s', (reference, name, expected) => {
    expect(mayNamePlugin(reference, name)).toBe(expected);
  });
});

describe('service routes: the image is in the JSON body', () => {
  const spec = (body: string, uri = '/v1.41/services/create') => post(uri, { body, headers: { 'content-type': 'application/json' } });

  test('docker service create names its image in TaskTemplate.ContainerSpec.Image', () => {
    const body = JSON.stringify({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'someone/app:1.0@sha256:' + 'b'.repeat(64) } } });
    expect(spec(body)).toEqual({ kind: 'image-use', route: 'service', images: ['someone/app:1.0@sha256:' + 'b'.repeat(64)] });
  });

  test('an update is judged the same way', () => {
    const body = JSON.stringify({ TaskTemplate: { ContainerSpec: { Image: 'someone/app' } } });
    expect(spec(body, '/v1.41/services/abc123/update?version=12')).toEqual({ kind: 'image-use', route: 'service', images: ['someone/app'] });
  });

  test('a plugin service names its plugin in TaskTemplate.PluginSpec.Remote', () => {
    const body = JSON.stringify({ TaskTemplate: { Runtime: 'plugin', PluginSpec: { Name: 'p', Remote: 'someone/plugin' } } });
    expect(spec(body)).toEqual({ kind: 'image-use', route: 'service', images: ['someone/plugin'] });
  });

  test.each([
    ['keys in any case', '{"taskTEMPLATE":{"containerspec":{"IMAGE":"someone/evil"}}}'],
    ['escaped keys', '{"\\u0054askTemplate":{"ContainerSpec":{"\\u0049mage":"someone/evil"}}}'],
    ['Go folds U+017F (long s) to s', '{"Ta\u017fkTemplate":{"ContainerSpec":{"Image":"someone/evil"}}}'],
    ['Go folds U+212A (Kelvin sign) to k', '{"Tas\u212aTemplate":{"ContainerSpec":{"Image":"someone/evil"}}}'],
    ['a repeated object is merged by Go', '{"TaskTemplate":{"ContainerSpec":{"Image":"someone/evil"}},"TaskTemplate":{"ContainerSpec":{}}}'],
    ['a repeated object in another case', '{"TaskTemplate":{"ContainerSpec":{"Image":"someone/evil"}},"tasktemplate":{"Resources":{}}}'],
    ['a null leaves a Go string unchanged', '{"TaskTemplate":{"ContainerSpec":{"Image":"someone/evil","image":null}}}'],
  ])('no spelling hides the image: %s', (_name, body) => {
    expect(spec(body)).toMatchObject({ kind: 'image-use', images: expect.arrayContaining(['someone/evil']) });
  });

  test('every image Go could end up with is judged', () => {
    const body = '{"TaskTemplate":{"ContainerSpec":{"Image":"alpine"},"containerSpec":{"image":"someone/evil"}}}';
    expect(spec(body)).toEqual({ kind: 'image-use', route: 'service', images: ['alpine', 'someone/evil'] });
  });

  test('a spec without an image has nothing to judge', () => {
    expect(spec('{"Name":"x","TaskTemplate":{"ContainerSpec":null}}')).toEqual({ kind: 'image-use', route: 'service', images: [] });
  });

  test.each([
    // The advice names each engine's limit: 26.1 forwards specs up to 4 MiB, chunked or not.
    ['no body (not JSON, too large, or a URI ending in /auth)', undefined, 'not forwarded for checking; send it as JSON (Content-Type: application/json) within the engine\'s limit for checked bodies (1 MiB on Docker 20.10, 4 MiB on 26.1)'],
    ['a body that is not JSON', '{"TaskTemplate":', 'not a JSON document'],
    ['trailing data', '{"TaskTemplate":{}} {"x":1}', 'not a JSON document'],
    ['an image that is not a string', '{"TaskTemplate":{"ContainerSpec":{"Image":["someone/evil"]}}}', 'is not a string'],
    ['a path step that is not an object', '{"TaskTemplate":"someone/evil"}', 'is not an object'],
    ['a body that is not an object', '["someone/evil"]', 'is not an object'],
    ['nesting past the limit', `{"x":${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}}`, 'not a JSON document'],
  ])('refused: %s', (_name, body, reason) => {
    expect(post('/v1.41/services/create', body === undefined ? {} : { body })).toEqual({ kind: 'reject', reason: expect.stringContaining(reason) });
  });
});

describe('parseJsonKeepingDuplicates', () => {
  test.each(['{}', '[]', '"x"', '1.5e3', 'true', 'null', ' {"a" : [1, {"b": null}] } ', '"\\ud83d\\ude00"'])('agrees with JSON.parse on %s', (text) => {
    expect(parseJsonKeepingDuplicates(text)).not.toBeUndefined();
  });

  test.each(['', '{', '{"a":}', "{'a':1}", '[1,]', '01', '"\u0001"', 'nul', '{"a":1,}', 'NaN'])('refuses %j like JSON.parse', (text) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(parseJsonKeepingDuplicates(text)).toBeUndefined();
  });

  test('keeps every member', () => {
    expect(parseJsonKeepingDuplicates('{"a":1,"a":2}')).toEqual({ members: [['a', 1], ['a', 2]] });
  });
});

describe('withoutUserInfo: what a client wrote, fit for a message', () => {
  test.each([
    ['https://mike:s3cr3t@files.example.com/x.tar', 'https://***@files.example.com/x.tar'],
    ['mike:s3cr3t@registry.example.com/app', '***@registry.example.com/app'],
    ['git://x:tok@github.com/a/b.git', 'git://***@github.com/a/b.git'],
    ['alpine:3.20@sha256:' + 'a'.repeat(64), 'alpine:3.20@sha256:' + 'a'.repeat(64)],
    ['someone/app:1.0', 'someone/app:1.0'],
    // Go's URL parser ends user info at the LAST `@`; a password may hold `@`, spaces, slashes.
    ['u:p@S3cretC@host/x', '***@host/x'],
    ['u:S3cret I@host', '***@host'],
    ['u:S3cretL/@host', '***@host'],
    ['https://u:S3cret/x y@z@host/x', 'https://***@host/x'],
    ['ghp_T0ken@github.com/a/b', '***@github.com/a/b'],
    ['u:S3cret@host/app@sha256:' + 'a'.repeat(64), '***@host/app@sha256:' + 'a'.repeat(64)],
    ['u:p@sha256:' + 'a'.repeat(64), 'u:p@sha256:' + 'a'.repeat(64)],
    ['u:S3cret/@host:1', '***@host:1'],
    ['u:S3cret@blake3:' + 'b'.repeat(64), 'u:S3cret@blake3:' + 'b'.repeat(64)],
    ['u:S3cret@blake3:1234', '***@blake3:1234'],
  ])('%s -> %s', (text, shown) => {
    expect(withoutUserInfo(text)).toBe(shown);
  });

  test('a long value is cut, with a marker that says so; user info goes first, so a cut never shows part of a password', () => {
    const long = `u:S3cret@host/${'a'.repeat(1_000_000)}`;
    const shown = shownValue(long);
    expect(shown.length).toBeLessThan(MAX_SHOWN_CHARS + 60);
    expect(shown).toMatch(/^\*\*\*@host\/a+\.\.\.\[cut: \d+ more characters\]$/);
    expect(shownValue(`${'x'.repeat(MAX_SHOWN_CHARS - 10)}:S3cret@host`)).toBe('***@host');
    expect(shownValue('someone/app:1.0')).toBe('someone/app:1.0');
  });
});

describe('no spelling of Docker Hub escapes the classifier', () => {
  test.each([
    'registry-1.docker.io:443/someone/evil',
    'docker.io:443/someone/evil',
    'INDEX.DOCKER.IO:443/someone/evil',
    'registry.hub.docker.com/someone/evil',
  ])('%s is a Docker Hub image', (image) => {
    const parsed = parseReference(image);
    expect(parsed).toMatchObject({ ok: true, reference: { domain: 'docker.io', path: 'someone/evil' } });
  });

  test('another port is another registry', () => {
    expect(parseReference('registry-1.docker.io:5000/someone/evil')).toMatchObject({ ok: true, reference: { domain: 'registry-1.docker.io:5000' } });
  });
});

describe('GET routes that make the engine contact a registry for a named image', () => {
  const get = (uri: string) => recognize(request('GET', uri));

  test('docker plugin install first asks GET /plugins/privileges?remote=, which fetches the image: judged like a pull', () => {
    expect(get('/v1.41/plugins/privileges?remote=someone%2Fapp%3A1.0')).toEqual({ kind: 'image-use', route: 'plugin-privileges', images: ['someone/app:1.0'] });
    expect(get('/plugins/privileges')).toEqual({ kind: 'image-use', route: 'plugin-privileges', images: [''] });
  });

  test.each([
    ['/v1.41/distribution/someone/app:1.0/json', 'someone/app:1.0'],
    ['/distribution/127.0.0.1:5000/x/y@sha256:' + 'a'.repeat(64) + '/json', '127.0.0.1:5000/x/y@sha256:' + 'a'.repeat(64)],
    ['/v1.41/distribution%2Fsomeone%2Fapp/json', 'someone/app'],
  ])('GET %s asks the registry about %s: judged like a pull', (uri, image) => {
    expect(get(uri)).toEqual({ kind: 'image-use', route: 'distribution', images: [image] });
  });

  test.each(['/v1.41/containers/json', '/plugins', '/plugins/x/json', '/distribution/json', '/images/someone/app/json', '/_ping'])(
    'GET %s passes through',
    (uri) => expect(get(uri)).toEqual({ kind: 'passthrough' }),
  );

  test.each(['/v1.41/plugins/pull?remote=someone%2Fapp', '/images/create?fromImage=someone%2Fapp', '/services/create'])(
    'GET %s is no route of the engine: passes through',
    (uri) => expect(get(uri)).toEqual({ kind: 'passthrough' }),
  );
});
