import { decodeRequestBody, parseJsonKeepingDuplicates, valuesAt } from './json-body';
import type { RecognizedRequest, RouteInput } from './recognized';

const UPDATE_ROUTE = /^\/services\/[^/]+\/update$/;

/** Where a swarm ServiceSpec names what its tasks pull: a container image, or a plugin for plugin services. */
const IMAGE_FIELDS: ReadonlyArray<readonly string[]> = [
  ['TaskTemplate', 'ContainerSpec', 'Image'],
  ['TaskTemplate', 'PluginSpec', 'Remote'],
];

const reject = (reason: string): RecognizedRequest => ({ kind: 'reject', reason });

/**
 * Go keeps one value per field (a repeated key decodes into the same field again), so a spec names at most one
 * image per field; every candidate is judged, but a body repeating the field thousands of times would have each
 * judged in turn (a Docker Hub lookup apiece). Far more than any client sends, and refused.
 */
export const MAX_SERVICE_IMAGES = 8;

/**
 * `POST /services/create` and `POST /services/{id}/update`: swarm agents pull the spec's image inside the engine,
 * on every node, so the spec in the request body is the only place to judge it. The daemon forwards a body only
 * when it is JSON under its limit (1 MiB on dockerd 20.10, 4 MiB on 26.1; chunked or not) and the URI does not end in
 * `/auth`; without one the image cannot be checked, and the request is refused.
 */
export function recognizeServiceRoute({ method, target, request }: RouteInput): RecognizedRequest | undefined {
  if (method !== 'POST' || (target.path !== '/services/create' && !UPDATE_ROUTE.test(target.path))) return undefined;
  if (request.requestBody === '') {
    return reject(
      'the service specification was not forwarded for checking; send it as JSON (Content-Type: application/json) ' +
        "within the engine's limit for checked bodies (1 MiB on Docker 20.10, 4 MiB on 26.1)",
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
  if (images.size > MAX_SERVICE_IMAGES) return reject(`the service specification names more than ${MAX_SERVICE_IMAGES} images in repeated fields`);
  return { kind: 'image-use', route: 'service', images: [...images] };
}
