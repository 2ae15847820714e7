/** AuthZReq bodies exactly as dockerd 20.10 sends them (see /work/shared/docker-facts.md), for the plugin-alone runs. */

const HEADERS = { 'User-Agent': 'Docker-Client/28.2.2 (linux)' };

function authzReq(method: string, uri: string, body?: object): string {
  const requestBody = body === undefined ? {} : { RequestBody: Buffer.from(JSON.stringify(body)).toString('base64') };
  return JSON.stringify({ RequestMethod: method, RequestUri: uri, RequestHeaders: HEADERS, ...requestBody });
}

export const PING = authzReq('HEAD', '/_ping');
export const LIST_CONTAINERS = authzReq('GET', '/v1.41/containers/json');
export const LIST_IMAGES = authzReq('GET', '/v1.41/images/json');
export const CREATE_CONTAINER = authzReq('POST', '/v1.41/containers/create', { Image: 'alpine', Cmd: ['echo', 'hi'] });
/** Allowed by the embedded default policy: a Docker Official Image. */
export const PULL_ALLOWED = authzReq('POST', '/v1.41/images/create?fromImage=alpine&tag=latest');
/** Denied by the embedded default policy: a community image. */
export const PULL_DENIED = authzReq('POST', '/v1.41/images/create?fromImage=someone%2Fapp&tag=1.0');

/** What a busy host sends: mostly API calls that bring no image, a third pulls (allowed and denied). */
export const MIXED = [PING, LIST_CONTAINERS, PULL_ALLOWED, LIST_IMAGES, CREATE_CONTAINER, PULL_DENIED] as const;
export const PULLS = [PULL_ALLOWED, PULL_DENIED] as const;
