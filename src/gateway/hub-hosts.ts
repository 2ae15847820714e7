/**
 * Which hosts dockerd reaches through the gateway belong to Docker Hub, and how each is treated: the registry API
 * endpoints are intercepted (their TLS terminated, every request judged), Hub's token and blob-storage hosts are
 * tunnelled as Docker Hub, everything else is tunnelled as the registry it is.
 */
import { DOCKER_HUB, registryHostKey } from '../reference/reference';

/** dockerd's registry mirrors, as registryHostKey spells them. */
export type MirrorHosts = ReadonlySet<string>;

/**
 * Docker Hub's registry API, intercepted, and the only names the gateway CA may sign for: dockerd, the classic
 * builder and BuildKit fetch every docker.io image from registry-1.docker.io; index.docker.io and
 * registry.hub.docker.com serve the same repositories to an image that names them (and the plugin judges them as
 * Docker Hub), so they are opened too rather than tunnelled unseen. Not docker.io: a dNSName constraint admits every
 * subdomain, and auth.docker.io, where passwords go, is one.
 */
export const HUB_REGISTRY_HOSTS: readonly string[] = ['registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com'];

/** auth.docker.io (tokens), production.cloudflare.docker.com and Hub's R2 bucket (blobs, by redirect). */
const HUB_SERVICE = /(?:^|\.)docker\.(?:io|com)$|^docker-images-prod\.[a-z0-9]+\.r2\.cloudflarestorage\.com$/;

export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
}

/** A CONNECT request target: `host:port`, `[v6]:port`. */
export function parseConnectTarget(target: string): ConnectTarget | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?):([0-9]{1,5})$/.exec(target);
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65535) return undefined;
  return { host: match[1]!.toLowerCase(), port };
}

export type ConnectRoute =
  /** Docker Hub's registry API: terminate TLS and judge each request. */
  | { readonly kind: 'intercept'; readonly host: string }
  /** One of dockerd's registry mirrors, reached around the gateway: refused, so dockerd falls back to Docker Hub. */
  | { readonly kind: 'mirror'; readonly host: string }
  /** Anything else, tunnelled unseen; `registry` is what Registry Access Management judges it as. */
  | { readonly kind: 'tunnel'; readonly registry: string };

export function connectRoute(target: ConnectTarget, mirrors: MirrorHosts): ConnectRoute {
  const key = registryHostKey(`${target.host}:${target.port}`);
  if (HUB_REGISTRY_HOSTS.includes(key)) return { kind: 'intercept', host: key };
  if (mirrors.has(key)) return { kind: 'mirror', host: key };
  return { kind: 'tunnel', registry: HUB_SERVICE.test(key) ? DOCKER_HUB : key };
}
