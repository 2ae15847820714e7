/**
 * Resolves registry host names the way dockerd's Go resolver will (/etc/hosts first, then DNS, through the system's
 * getaddrinfo), for registry-identity.ts to compare. Results are cached briefly and refreshed in the background, so
 * a decision about a host seen recently waits on no lookup; a lookup that fails or hangs gives an unresolved host,
 * never a guess.
 */
import type { Logger } from '../audit/logger';
import { RefreshingCache } from '../policy/cache';
import { literalHost, resolvedHost, splitHostKey, unresolvedHost, type ResolvedHost } from './registry-identity';

export interface HostResolver {
  /** `key` is a registryHostKey spelling (`vm:5101`). */
  resolve(key: string): Promise<ResolvedHost>;
}

/** Every address a name resolves to (`getaddrinfo`, /etc/hosts included). */
export type AddressLookup = (name: string) => Promise<readonly string[]>;

/** node:dns is required with the first lookup, not before the plugin listens. */
const systemLookup: AddressLookup = async (name) =>
  (await (require('node:dns/promises') as typeof import('node:dns/promises')).lookup(name, { all: true, verbatim: true })).map((found) => found.address);

/** Go's resolver re-reads /etc/hosts every 5 s: a change is seen about as soon as dockerd sees it. */
const RESOLUTION_TTL_MS = 5_000;
/** A name not resolved by then counts as unresolved (a dropped DNS query costs getaddrinfo 5 s). */
const LOOKUP_WAIT_MS = 1_000;

export interface HostResolverOptions {
  readonly logger: Logger;
  readonly clock: () => number;
  readonly lookup?: AddressLookup;
}

export function cachingHostResolver(options: HostResolverOptions): HostResolver {
  const addressesOf = options.lookup ?? systemLookup;
  const cache = new RefreshingCache<readonly string[]>({
    name: 'registry host',
    maxEntries: 1_000,
    ttlMs: RESOLUTION_TTL_MS,
    staleMaxMs: RESOLUTION_TTL_MS,
    firstFetchWaitMs: LOOKUP_WAIT_MS,
    failureBackoffMs: 1_000,
    clock: options.clock,
    random: Math.random,
    logger: options.logger,
  });
  return {
    async resolve(key) {
      const literal = literalHost(key);
      if (literal !== undefined) return literal;
      const { host } = splitHostKey(key);
      const found = await cache.get(host, host, async () => {
        const addresses = await addressesOf(host);
        if (addresses.length === 0) throw new Error('no address');
        return addresses;
      });
      return found.ok ? resolvedHost(key, found.value) : unresolvedHost(key, found.error.message);
    },
  };
}
