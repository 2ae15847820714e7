import type { Identity } from '../decision/decide';
import type { AuthZRequest } from '../protocol/wire';

export type { Identity };

/** A Docker Hub secret as the CLI stores it: a password or PAT (`dckr_pat_...`), or an OAuth identity token. */
export interface HubCredential {
  readonly kind: 'password' | 'identitytoken';
  readonly secret: string;
}

/**
 * Who is pulling, plus the secret the Hub policy source needs to read their organisations. The credential never
 * reaches the pure decision, a log line or a message.
 */
export interface SignedInUser extends Identity {
  readonly credential?: HubCredential;
}

/** Works out who is pulling. Implementations never reject: unknown means signed out. */
export interface IdentityResolver {
  identify(request: AuthZRequest): Promise<SignedInUser>;
}

export const SIGNED_OUT: SignedInUser = { source: 'none' };
