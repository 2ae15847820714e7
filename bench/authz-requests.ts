/** AuthZReq bodies exactly as dockerd 20.10 sends them (see /work/shared/docker-facts.md), for the plugin-alone runs. */

const HEADERS = { 'User-Agent': 'Docker-Client/28.2.2 (linux)' };

export function authzReq(method: string, uri: string, body?: object): string {
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

/** A service spec of about `bytes` (JSON), mostly environment variables, naming `image`. */
export function serviceSpec(bytes: number, image: string): string {
  const count = Math.floor(bytes / 52);
  const env = Array.from({ length: count }, (_, i) => `VAR_${String(i).padStart(7, '0')}=${'x'.repeat(36)}`);
  return JSON.stringify({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: image, Env: env } } });
}

/**
 * `docker service create` of an official image with a spec just under 1 MiB (the most dockerd 20.10 forwards): a body
 * the plugin must read, parse and recognise, since the service brings an image.
 */
export const CREATE_SERVICE_1MIB = authzReq('POST', '/v1.41/services/create', JSON.parse(serviceSpec(1024 * 1024 - 4096, 'alpine')) as object);

/** The pull of a community image in a namespace of its own (`ns12345/app`): every one a Hub badge lookup. */
export const pullOfNamespace = (n: number) => authzReq('POST', `/v1.41/images/create?fromImage=ns${n}%2Fapp&tag=1.0`);

/** What a busy host sends: mostly API calls that bring no image, a third pulls (allowed and denied). */
export const MIXED = [PING, LIST_CONTAINERS, PULL_ALLOWED, LIST_IMAGES, CREATE_CONTAINER, PULL_DENIED] as const;
export const PULLS = [PULL_ALLOWED, PULL_DENIED] as const;

const RESPONSE_HEADERS = { 'Api-Version': '1.41', 'Content-Type': 'application/json', Ostype: 'linux', Server: 'Docker/20.10.24+dfsg1 (linux)' };

/** The AuthZRes dockerd sends after the handler ran: the request again, plus what the handler answered. */
function authzRes(request: string, response: { status?: number; body?: string }): string {
  const base = JSON.parse(request) as Record<string, unknown>;
  const status = response.status === undefined ? {} : { ResponseStatusCode: response.status };
  const body = response.body === undefined ? {} : { ResponseBody: Buffer.from(response.body).toString('base64') };
  return JSON.stringify({ ...base, ...status, ...body, ResponseHeaders: RESPONSE_HEADERS });
}

/**
 * One docker API call as dockerd asks a plugin about it: AuthZReq, then AuthZRes, on one keep-alive connection.
 * A pull's AuthZRes carries no status or body (the progress stream was already flushed); `docker ps`'s carries both.
 */
export const DAEMON_CALLS = {
  pull: [PULL_ALLOWED, authzRes(PULL_ALLOWED, {})],
  nonPull: [LIST_CONTAINERS, authzRes(LIST_CONTAINERS, { status: 200, body: '[]\n' })],
} as const;
