import { join } from 'node:path';
import type { Logger } from '../audit/logger';
import type { IdentitySourceName } from '../config/settings';
import { isPromise, type MaybeAsync } from '../maybe-async';
import { lastMade } from '../last-made';
import type { AuthZRequest } from '../protocol/wire';
import type { HelperOptions } from './credential-helper';
import { dockerConfigSource } from './docker-config';
import { SIGNED_OUT, type IdentityResolver, type IdentitySource, type SignedInUser } from './identity';
import { provisionedSource } from './provisioned';
import { registryAuthSource } from './registry-auth';
import { tlsUserSource } from './tls-user';

export interface IdentityOptions {
  /** IMAGE_ACCESS_IDENTITY_SOURCES, in the order they are asked. */
  readonly sources: readonly IdentitySourceName[];
  /** IMAGE_ACCESS_DOCKER_CONFIG: the directory holding config.json. */
  readonly dockerConfig: string;
  /** IMAGE_ACCESS_USER; `provisioned` answers nothing without it. */
  readonly user: string | undefined;
  readonly logger: Logger;
  readonly clock: () => number;
  readonly helper?: Partial<HelperOptions>;
}

function buildSource(name: IdentitySourceName, options: IdentityOptions): IdentitySource | undefined {
  switch (name) {
    case 'registry-auth':
      return registryAuthSource(options.logger);
    case 'tls':
      return tlsUserSource();
    case 'docker-config':
      return dockerConfigSource({ directory: options.dockerConfig, logger: options.logger, clock: options.clock, helper: options.helper });
    case 'provisioned':
      return options.user === undefined ? undefined : provisionedSource(options.user);
  }
}

/** Where a source looks, in words for a denial message: a place, never what it found there. */
function placeOf(name: IdentitySourceName, options: IdentityOptions): string {
  switch (name) {
    case 'registry-auth':
      return 'the X-Registry-Auth header';
    case 'tls':
      return 'the TLS client certificate';
    case 'docker-config':
      return join(options.dockerConfig, 'config.json');
    case 'provisioned':
      return 'IMAGE_ACCESS_USER';
  }
}

/** Asks the configured sources in order; the first that knows who is pulling wins, and nobody knowing is signed out. */
export function identityResolver(options: IdentityOptions): IdentityResolver {
  const sources = options.sources.flatMap((name) => {
    const source = buildSource(name, options);
    return source === undefined ? [] : [{ source, place: placeOf(name, options) }];
  });
  const everywhere = sources.map(({ place }) => place).join(', ') || 'no identity source';
  const signedOut: SignedInUser = { ...SIGNED_OUT, lookedIn: everywhere };
  // A source answers with the same user on every pull until its file changes.
  const lookedIn = lastMade((user: SignedInUser, place: string): SignedInUser => ({ ...user, lookedIn: place }));
  /** Sources from `index` on; one that throws or rejects is logged and the next one still gets its turn. */
  const askFrom = (request: AuthZRequest, index: number): MaybeAsync<SignedInUser> => {
    const entry = sources[index];
    if (entry === undefined) return signedOut;
    const { source, place } = entry;
    const failed = (error: unknown) => {
      // Sources do not throw; if one does, the next one still gets its turn.
      options.logger.error('identity source failed', { source: source.name, error: (error as Error).name });
      return askFrom(request, index + 1);
    };
    const found = (user: SignedInUser | undefined) => (user === undefined ? askFrom(request, index + 1) : lookedIn(user, place));
    let user: MaybeAsync<SignedInUser | undefined>;
    try {
      user = source.lookup(request);
    } catch (error) {
      return failed(error);
    }
    return isPromise(user) ? user.then(found, failed) : found(user);
  };
  return { identify: (request) => askFrom(request, 0) };
}
