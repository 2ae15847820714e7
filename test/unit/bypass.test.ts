import type { AuthZRequest } from '../../src/protocol/wire';
import { recognize } from '../../src/recognition/recognize';

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
