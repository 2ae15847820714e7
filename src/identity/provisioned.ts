import type { IdentitySourceName } from '../config/settings';
import { signedInUser, type IdentitySource } from './identity';

const PROVISIONED_SOURCE: IdentitySourceName = 'provisioned';

/** The Docker ID a fleet tool assigned to this machine (`IMAGE_ACCESS_USER`): a name only, never a secret. */
export function provisionedSource(username: string): IdentitySource {
  const user = signedInUser(PROVISIONED_SOURCE, username, undefined);
  return { name: PROVISIONED_SOURCE, lookup: () => user };
}
