import { z } from 'zod';
import type { MaybeAsync } from '../maybe-async';
import type { AuthZRequest } from '../protocol/wire';
import type { Identity } from '../subject/subject';

/** A Docker Hub secret as the CLI stores it: a password or PAT (`dckr_pat_...`), or an OAuth identity token. */
export interface HubCredential {
  readonly kind: 'password' | 'identitytoken';
  readonly secret: string;
}

/**
 * Who is pulling, plus the secret the Hub policy source needs to read their organisations. The credential never
 * reaches the pure decision, a log line or a message. A credential without a username is possible (an identity token
 * from a credential helper): only the Hub can tell whose it is.
 */
export interface SignedInUser extends Identity {
  readonly credential?: HubCredential;
}

/**
 * Works out who is pulling. Implementations never reject: unknown means signed out. At once when every source answers
 * from what it holds (a header, an unchanged config file): a promise only when one must wait (a credential helper).
 */
export interface IdentityResolver {
  identify(request: AuthZRequest): MaybeAsync<SignedInUser>;
}

/** One place the signed-in user can be learnt from; `undefined` means it has nothing to say, so the next one is asked. */
export interface IdentitySource {
  readonly name: string;
  lookup(request: AuthZRequest): MaybeAsync<SignedInUser | undefined>;
}

export const SIGNED_OUT: SignedInUser = { source: 'none' };

/** A Docker ID as it arrives from outside (header, config file, certificate): trimmed, lowercase, no control characters. */
export const usernameSchema = z
  .string()
  .trim()
  .min(1)
  .max(255)
  .regex(/^[^\u0000-\u001f\u007f]+$/)
  .transform((name) => name.toLowerCase());

/** A Docker ID that may be absent (undefined or empty): the normalised name, undefined, or an Error that never quotes it. */
export function optionalUsername(raw: string | undefined): string | undefined | Error {
  if (raw === undefined || raw === '') return undefined;
  const name = usernameSchema.safeParse(raw);
  return name.success ? name.data : new Error('the username is not a Docker ID');
}

/** `username` and `credential`, each only when known, so that absent fields stay absent. */
export function signedInUser(source: string, username: string | undefined, credential: HubCredential | undefined): SignedInUser {
  return {
    source,
    ...(username === undefined ? {} : { username }),
    ...(credential === undefined ? {} : { credential }),
  };
}
