import type { RecognizedRequest, RouteInput } from './recognized';
import { describeRemote } from './uri';

/**
 * Routes that make images on the host: the classic builder (`/build`, which pulls FROM images inside the engine),
 * BuildKit (`/session` and `/grpc`, hijacked connections through which buildx drives builds without `/build`) and
 * `docker commit`. None of them shows the plugin which images end up inside.
 */
export function recognizeBuildRoute({ method, target }: RouteInput): RecognizedRequest | undefined {
  if (method !== 'POST') return undefined;
  switch (target.path) {
    case '/build': {
      const remote = target.query.get('remote') ?? '';
      const detail = remote === '' ? 'an uploaded build context' : `a build context fetched from ${describeRemote(remote)}`;
      return { kind: 'unverifiable', activity: 'build', detail };
    }
    case '/session':
      return { kind: 'unverifiable', activity: 'build', detail: 'a BuildKit session' };
    case '/grpc':
      return { kind: 'unverifiable', activity: 'build', detail: 'the BuildKit API' };
    case '/commit':
      return { kind: 'unverifiable', activity: 'commit', detail: 'a container' };
    default:
      return undefined;
  }
}
