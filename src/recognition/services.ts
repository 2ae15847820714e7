import { decodeRequestBody, parseJsonKeepingDuplicates, valuesAt } from './json-body';
import type { RecognizedRequest, RouteInput } from './recognize';

const UPDATE_ROUTE = /^\/services\/[^/]+\/update$/;

/** Where a swarm ServiceSpec names what its tasks pull: a container image, or a plugin for plugin services. */
const IMAGE_FIELDS: ReadonlyArray<readonly string[]> = [
  ['TaskTemplate', 'ContainerSpec', 'Image'],
  ['TaskTemplate', 'PluginSpec', 'Remote'],
];

const reject = (reason: string): RecognizedRequest => ({ kind: 'reject', reason });

/**
 * `POST /services/create` and `POST /services/{id}/update`: swarm agents pull the spec's image inside the engine,
 * on every node, so the spec in the request body is the only place to judge it. The daemon forwards a body only
 * when it is JSON with a Content-Length under its limit (and the URI does not end in `/auth`); without one the image
 * cannot be checked, and the request is refused.
 */
export function recognizeServiceRoute({ method, target, request }: RouteInput): RecognizedRequest | undefined {
  if (method !== 'POST' || (target.path !== '/services/create' && !UPDATE_ROUTE.test(target.path))) return undefined;
  if (request.requestBody === '') {
    return reject(
      'the service specification was not forwarded for checking; send it as JSON with a Content-Length, under 1 MiB',
    );
  }
  const spec = parseJsonKeepingDuplicates(decodeRequestBody(request.requestBody));
  if (spec === undefined) return reject('the service specification is not a JSON document');
  const images = new Set<string>();
  for (const field of IMAGE_FIELDS) {
    const found = valuesAt(spec, field);
    if (!found.ok) return reject(`unreadable service specification: ${found.problem}`);
    for (const value of found.values) {
      if (value !== null && typeof value !== 'string') return reject(`unreadable service specification: ${field.join('.')} is not a string`);
      if (value) images.add(value);
    }
  }
  return { kind: 'image-use', route: 'service', images: [...images] };
}
