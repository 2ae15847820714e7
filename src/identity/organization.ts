import { z } from 'zod';
import type { Logger } from '../audit/logger';
import type { RequireSignIn } from '../config/settings';
import { then, type MaybeAsync } from '../maybe-async';
import { parseJson } from './decode';
import { usernameSchema } from './identity';
import { watchedFile } from './watched-file';

/** Docker Desktop's registry.json (`{"allowedOrgs": ["acme"]}`); an empty list enforces nothing. */
const registryJsonSchema = z.object({ allowedOrgs: z.array(usernameSchema) });

/** The organisation registry.json names, `undefined` for none. Errors never quote the file. */
export function parseRegistryJson(text: string): string | undefined | Error {
  const data = parseJson(text);
  if (data instanceof Error) return data;
  const parsed = registryJsonSchema.safeParse(data);
  if (!parsed.success) return new Error('expected {"allowedOrgs": ["<organization>", ...]}');
  return parsed.data.allowedOrgs[0];
}

/** Which Docker Hub organisation this machine belongs to. Never rejects; at once unless a changed registry.json is read. */
export interface OrganizationResolver {
  current(): MaybeAsync<string | undefined>;
  /** Where the organisation is configured, for messages: `IMAGE_ACCESS_ORG`, or registry.json and its path. */
  readonly origin: string;
}

export interface OrganizationOptions {
  /** IMAGE_ACCESS_ORG: when set, registry.json is not read. */
  readonly org: string | undefined;
  /** IMAGE_ACCESS_REGISTRY_JSON; undefined: not read. */
  readonly registryJson: string | undefined;
  readonly logger: Logger;
}

/**
 * IMAGE_ACCESS_ORG, else the first `allowedOrgs` entry of Docker Desktop's registry.json, re-read when it changes (a
 * missing or unreadable file means no organisation; the last one is not kept, as Docker Desktop would not keep it).
 */
export function organizationResolver({ org, registryJson, logger }: OrganizationOptions): OrganizationResolver {
  if (org !== undefined || registryJson === undefined) {
    return { current: () => org, origin: org === undefined ? 'nowhere' : 'IMAGE_ACCESS_ORG' };
  }
  const file = watchedFile<string | undefined>(registryJson, parseRegistryJson, (state) => {
    if (state.kind === 'missing') logger.info('no registry.json; no organization from Docker Desktop', { path: registryJson });
    else if (state.kind === 'unreadable') logger.warn('registry.json unreadable; ignored', { path: registryJson, problem: state.problem });
    else logger.info('organization read from registry.json', { path: registryJson, organization: state.value });
  });
  // One answer per turn of the event loop: a pull asks up to three times (sign-in rule, policy source, Hub source),
  // and each stat of the file costs tens of microseconds on a CPU that is cold at daemon pace. One decision, one
  // organisation.
  let thisTurn: MaybeAsync<string | undefined> | undefined;
  const forget = () => {
    thisTurn = undefined;
  };
  return {
    origin: `allowedOrgs in ${registryJson}`,
    current: () => {
      if (thisTurn === undefined) {
        thisTurn = then(file.read(), (state) => (state.kind === 'ok' ? state.value : undefined));
        queueMicrotask(forget);
      }
      return thisTurn;
    },
  };
}

/** Whether Docker Hub pulls need a signed-in member of the organisation: `auto` once an organisation is known. */
export function signInRequired(mode: RequireSignIn, organization: string | undefined): boolean {
  return mode === 'on' || (mode === 'auto' && organization !== undefined);
}

/** Enforced sign-in as the authorizer applies it: the IMAGE_ACCESS_REQUIRE_SIGNIN mode and the organisation in force. */
export interface SignInEnforcement {
  readonly mode: RequireSignIn;
  readonly organization: OrganizationResolver;
}
