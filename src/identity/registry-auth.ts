import { z } from 'zod';
import type { Logger } from '../audit/logger';
import type { IdentitySourceName } from '../config/settings';
import type { AuthZRequest } from '../protocol/wire';
import { authConfigSchema, userFromAuthConfig } from './auth-config';
import { decodeBase64, parseJson } from './decode';
import { isHubServerAddress } from './hub-address';
import { signedInUser, type IdentitySource, type SignedInUser } from './identity';

const REGISTRY_AUTH_SOURCE: IdentitySourceName = 'registry-auth';
const HEADER = 'x-registry-auth';

/** The CLI's AuthConfig as the header carries it (Go field names, lowercase once the keys are folded). */
const registryAuthSchema = authConfigSchema.extend({
  serveraddress: z.string().nullish(),
  registrytoken: z.string().nullish(),
});

export type RegistryAuthReading =
  | { readonly kind: 'absent' }
  | { readonly kind: 'other-registry' }
  | { readonly kind: 'unreadable'; readonly problem: string }
  | { readonly kind: 'user'; readonly user: SignedInUser };

const unreadable = (problem: string): RegistryAuthReading => ({ kind: 'unreadable', problem });

/**
 * Reads an `X-Registry-Auth` value. Problems are described without quoting the value: it holds a password. A signed-out
 * CLI sends `e30=` (`{}`), which reads as a user with neither name nor credential.
 */
export function readRegistryAuth(value: string | undefined): RegistryAuthReading {
  if (value === undefined) return { kind: 'absent' };
  if (value.trim() === '') return { kind: 'user', user: signedInUser(REGISTRY_AUTH_SOURCE, undefined, undefined) };
  const text = decodeBase64(value.trim());
  if (text === undefined) return unreadable('not base64');
  const data = parseJson(text);
  if (data instanceof Error) return unreadable('not JSON');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return unreadable('not a JSON object');
  // The daemon decodes these keys case-insensitively, the last duplicate winning.
  const folded = Object.fromEntries(Object.entries(data).map(([key, field]) => [key.toLowerCase(), field]));
  const parsed = registryAuthSchema.safeParse(folded);
  if (!parsed.success) return unreadable(`field ${parsed.error.issues[0]?.path.join('.') ?? '?'} is not a string`);
  if (parsed.data.serveraddress && !isHubServerAddress(parsed.data.serveraddress)) return { kind: 'other-registry' };
  const user = userFromAuthConfig(REGISTRY_AUTH_SOURCE, parsed.data);
  return user instanceof Error ? unreadable(user.message) : { kind: 'user', user };
}

/**
 * `X-Registry-Auth` from the AuthZ request's headers. A real dockerd strips it before calling plugins, but engines and
 * proxies that forward it say exactly who the client is, so when present it is the answer: signed out included.
 * Credentials for another registry say nothing about Docker Hub and defer to the next source.
 */
export function registryAuthSource(logger: Logger): IdentitySource {
  return {
    name: REGISTRY_AUTH_SOURCE,
    lookup(request: AuthZRequest) {
      const reading = readRegistryAuth(request.requestHeaders[HEADER]);
      switch (reading.kind) {
        case 'absent':
        case 'other-registry':
          return undefined;
        case 'unreadable':
          logger.warn('X-Registry-Auth header unreadable; treated as signed out', { problem: reading.problem });
          return signedInUser(REGISTRY_AUTH_SOURCE, undefined, undefined);
        case 'user':
          return reading.user;
      }
    },
  };
}
