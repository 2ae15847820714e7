import { parseReference, repositoryName } from '../reference/reference';
import type { PluginAction, RecognizedRequest, RouteInput } from './recognized';

const CHANGE_ROUTE = /^\/plugins\/(.+)\/(disable|set|upgrade)$/;
const REMOVE_ROUTE = /^\/plugins\/(.+)$/;

/**
 * The managed-plugin routes (moby api/server/router/plugin): `pull` and `upgrade` fetch a plugin image from a
 * registry, and so does `GET privileges` (it stores the image's manifest and config under the plugin store), `create`
 * builds one from an uploaded archive, and disable/remove/set/upgrade change an installed one.
 * `{name:.*}` may hold slashes (`vieux/sshfs:latest`), so names are read greedily up to the action.
 */
export function recognizePluginRoute({ method, target }: RouteInput): RecognizedRequest | undefined {
  const { path, query } = target;
  if (method === 'GET') {
    return path === '/plugins/privileges' ? { kind: 'image-use', route: 'plugin-privileges', images: [query.get('remote') ?? ''] } : undefined;
  }
  if (method === 'DELETE') {
    const removed = REMOVE_ROUTE.exec(path);
    return removed ? { kind: 'plugin-change', action: 'remove', plugin: removed[1]! } : undefined;
  }
  if (path === '/plugins/pull') return { kind: 'image-use', route: 'plugin-install', images: [query.get('remote') ?? ''] };
  if (path === '/plugins/create') return { kind: 'unverifiable', activity: 'plugin-create', detail: 'an uploaded plugin archive' };
  const changed = CHANGE_ROUTE.exec(path);
  if (!changed) return undefined;
  const action = changed[2] as PluginAction;
  const plugin = changed[1]!;
  if (action === 'upgrade') return { kind: 'plugin-change', action, plugin, remote: query.get('remote') ?? '' };
  return { kind: 'plugin-change', action, plugin };
}

/** A full plugin ID, or a prefix of one: dockerd resolves any such string to the plugin whose ID starts with it. */
const POSSIBLE_ID = /^[0-9a-f]{1,64}$/;

/** `image-access` -> `docker.io/library/image-access:latest`, as the plugin store's TagNameOnly names plugins. */
function canonicalPluginName(name: string): string | undefined {
  const parsed = parseReference(name);
  if (!parsed.ok || parsed.reference.digest !== undefined) return undefined;
  return `${repositoryName(parsed.reference)}:${parsed.reference.tag ?? 'latest'}`;
}

/**
 * Whether `reference` (as written in a plugin route) may resolve to the plugin called `pluginName`, following the
 * daemon's resolvePluginID: a full ID, the same normalised name, or an ID prefix. The plugin does not know its own
 * ID, so every string that could be an ID prefix counts as naming it.
 */
export function mayNamePlugin(reference: string, pluginName: string): boolean {
  if (POSSIBLE_ID.test(reference)) return true;
  const wanted = canonicalPluginName(pluginName);
  return wanted !== undefined && canonicalPluginName(reference) === wanted;
}
