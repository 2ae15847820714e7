import type { Identity } from '../decision/decide';
import type { AuthZRequest } from '../protocol/wire';

export type { Identity };

/** Works out who is pulling. Implementations never reject: unknown means signed out. */
export interface IdentityResolver {
  identify(request: AuthZRequest): Promise<Identity>;
}

export const SIGNED_OUT: Identity = { source: 'none' };
