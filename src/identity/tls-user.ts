import type { IdentitySourceName } from '../config/settings';
import type { AuthZRequest } from '../protocol/wire';
import { signedInUser, usernameSchema, type IdentitySource } from './identity';

const TLS_SOURCE: IdentitySourceName = 'tls';

/**
 * The AuthZ request's `User`: the common name of the client certificate, set only when the daemon listens on TLS with
 * client certificates (`UserAuthNMethod: "TLS"`). The certificate authority then vouches for the name.
 */
export function tlsUserSource(): IdentitySource {
  return {
    name: TLS_SOURCE,
    lookup(request: AuthZRequest) {
      // Empty on every request to a daemon without TLS client certificates: skip the (costly) failing parse.
      if (request.user === '') return undefined;
      const name = usernameSchema.safeParse(request.user);
      return name.success ? signedInUser(TLS_SOURCE, name.data, undefined) : undefined;
    },
  };
}
