import { parseAuthZRequest } from '../../src/protocol/wire';
import { posix } from 'node:path';
import { cleanPath, parseQuery, parseRequestUri } from '../../src/recognition/uri';
import { recognize } from '../../src/recognition/recognize';

describe('parseAuthZRequest', () => {
  test('reads the real daemon sample', () => {
    const parsed = parseAuthZRequest(
      '{"RequestMethod":"POST","RequestUri":"/v1.41/images/create?fromImage=docker.io%2Fsomeone%2Fevil&tag=1.0",' +
        '"RequestHeaders":{"Content-Length":"0","User-Agent":"Docker-Client/28.2.2 (linux)"}}',
    );
    expect(parsed).toEqual({
      ok: true,
      request: {
        user: '',
        userAuthNMethod: '',
        requestMethod: 'POST',
        requestUri: '/v1.41/images/create?fromImage=docker.io%2Fsomeone%2Fevil&tag=1.0',
        requestBody: '',
        requestHeaders: { 'content-length': '0', 'user-agent': 'Docker-Client/28.2.2 (linux)' },
        responseStatusCode: 0,
      },
    });
  });

  test('matches keys case-insensitively and the last duplicate wins, as the daemon decodes', () => {
    const parsed = parseAuthZRequest('{"requesturi":"/a","RequestURI":"/b","REQUESTMETHOD":"GET"}');
    expect(parsed).toMatchObject({ ok: true, request: { requestUri: '/b', requestMethod: 'GET' } });
  });

  test("dockerd's own spelling and any other fold to the same field, whichever comes last winning", () => {
    expect(parseAuthZRequest('{"RequestUri":"/a","requestURI":"/b"}')).toMatchObject({ ok: true, request: { requestUri: '/b' } });
    expect(parseAuthZRequest('{"REQUESTURI":"/a","RequestUri":"/b"}')).toMatchObject({ ok: true, request: { requestUri: '/b' } });
    expect(parseAuthZRequest('{"RequestMethod":"GET","requestmethod":7}')).toEqual({ ok: false, error: 'requestmethod must be a string' });
  });

  test('null fields are empty, like Go', () => {
    expect(parseAuthZRequest('{"User":null,"RequestHeaders":null}')).toMatchObject({ ok: true, request: { user: '' } });
  });

  test.each([
    ['not JSON', '{bad', 'body is not JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['a string', '"x"', 'not a JSON object'],
    ['a number for the URI', '{"RequestUri":5}', 'requesturi must be a string'],
    ['headers as an array', '{"RequestHeaders":["a"]}', 'requestheaders must be an object'],
    ['a header that is not a string', '{"RequestHeaders":{"A":1}}', 'values must be strings'],
    ['a fractional status', '{"ResponseStatusCode":1.5}', 'must be an integer'],
  ])('rejects %s', (_name, body, error) => {
    expect(parseAuthZRequest(body)).toEqual({ ok: false, error: expect.stringContaining(error) });
  });
});

describe('parseRequestUri', () => {
  test.each([
    ['/v1.41/images/create?fromImage=alpine', '/images/create'],
    ['/images/create', '/images/create'],
    ['/v1.41/images%2Fcreate', '/images/create'],
    ['//v1.41//images/./create', '/images/create'],
    ['/v1.41/images/x/../create', '/images/create'],
    ['/v1/images/create', '/images/create'],
    ['/vx/images/create', '/vx/images/create'],
    ['/v1.41', '/'],
  ])('%s has path %s', (uri, path) => {
    expect(parseRequestUri(uri)?.path).toBe(path);
  });

  test('a path that is clean already is kept as is, and every other one is cleaned as Go does (path.Clean)', () => {
    // Every path of up to 7 characters of `/`, `.` and `a` after the leading slash: the shortcut for clean paths must
    // never keep a `.`, `..`, empty segment or trailing slash that the router would clean away.
    const paths = ['/'];
    for (let length = 1; length <= 7; length++) {
      for (const path of paths.filter((candidate) => candidate.length === length)) paths.push(`${path}/`, `${path}.`, `${path}a`);
    }
    for (const path of paths) expect([path, cleanPath(path)]).toEqual([path, posix.resolve(path)]);
    expect(paths.length).toBeGreaterThan(3000);
  });

  test('a version prefix is taken off a cleaned path, whatever follows it', () => {
    expect(parseRequestUri('/v1.41/./v1.40/images/create')?.path).toBe('/v1.40/images/create');
    expect(parseRequestUri('/v1.41/..')?.path).toBe('/');
    expect(parseRequestUri('/v1.41/')?.path).toBe('/');
  });

  test('an undecodable path is unreadable', () => {
    expect(parseRequestUri('/images%zz/create')).toBeUndefined();
  });

  test('reads the query like Go: first value wins, + is a space, bad pairs skipped', () => {
    const query = parseQuery('fromImage=alpine&fromImage=evil&tag=a+b&bad=%zz&semi=1;2&empty&x=%41');
    expect([...query]).toEqual([
      ['fromImage', 'alpine'],
      ['tag', 'a b'],
      ['empty', ''],
      ['x', 'A'],
    ]);
  });
});

describe('recognize pulls', () => {
  const request = (requestMethod: string, requestUri: string) => ({
    user: '',
    userAuthNMethod: '',
    requestMethod,
    requestUri,
    requestBody: '',
    requestHeaders: {},
    responseStatusCode: 0,
  });

  test.each([
    ['/v1.41/images/create?fromImage=docker.io%2Fsomeone%2Fevil&tag=1.0', 'docker.io/someone/evil', '1.0'],
    ['/v1.41/images%2Fcreate?fromImage=alpine', 'alpine', ''],
    ['/images/create?tag=1&fromImage=a&fromImage=b', 'a', '1'],
  ])('POST %s pulls %s tag %j', (uri, fromImage, tag) => {
    expect(recognize(request('POST', uri))).toEqual({ kind: 'pull', fromImage, tag });
  });

  test.each([
    ['GET', '/v1.41/images/json'],
    ['HEAD', '/_ping'],
    ['GET', '/v1.41/images/create?fromImage=someone/evil'],
    ['POST', '/v1.41/containers/create'],
    ['POST', '/v1.41/images/created?fromImage=x'],
  ])('%s %s passes through', (method, uri) => {
    expect(recognize(request(method, uri))).toEqual({ kind: 'passthrough' });
  });

  test('an unreadable URI on a POST is rejected', () => {
    expect(recognize(request('POST', '/v1.41/images%zz'))).toMatchObject({ kind: 'reject' });
  });
});
