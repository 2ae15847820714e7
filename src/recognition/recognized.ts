import type { AuthZRequest } from '../protocol/wire';
import type { ApiRequestTarget } from './uri';

/** Routes that name an image the engine will then fetch from its registry, judged like a pull. */
export type ImageRoute = 'service' | 'plugin-install' | 'plugin-upgrade' | 'plugin-privileges' | 'distribution';

/** Routes that create images from content the plugin cannot inspect; each is allowed or not by a setting. */
export type ContentActivity = 'import' | 'load' | 'build' | 'commit' | 'plugin-create';

/** Requests that change an installed plugin; refused for THIS plugin when self-protection is on. */
export type PluginAction = 'disable' | 'remove' | 'set' | 'upgrade';

/**
 * Finds the API requests that bring images onto the host (docker-facts.md, "Ways images reach a host") or switch
 * the plugin off. Everything else is `passthrough` and is allowed on the fast path without further work.
 */
export type RecognizedRequest =
  | { readonly kind: 'passthrough' }
  /** `POST /images/create?fromImage=`: a pull. `tag` may be a tag or a digest; absent means every tag. */
  | { readonly kind: 'pull'; readonly fromImage: string; readonly tag: string }
  /** Image references written in a service spec or a plugin install, as the client wrote them. */
  | { readonly kind: 'image-use'; readonly route: ImageRoute; readonly images: readonly string[] }
  /** `detail` says where the content comes from, without credentials (for logs and messages). */
  | { readonly kind: 'unverifiable'; readonly activity: ContentActivity; readonly detail: string }
  /** `plugin` is the name or ID prefix as written in the path; `remote` the image an upgrade installs. */
  | { readonly kind: 'plugin-change'; readonly action: PluginAction; readonly plugin: string; readonly remote?: string }
  /** A request that must be refused as it stands, whatever the policy. */
  | { readonly kind: 'reject'; readonly reason: string };

/** What a route family sees of a request; `undefined` from a family means "not one of mine". */
export interface RouteInput {
  readonly method: string;
  readonly target: ApiRequestTarget;
  readonly request: AuthZRequest;
}
