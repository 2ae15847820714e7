import { signedInUser, type IdentitySource } from './identity';

export const PROVISIONED_SOURCE = 'provisioned';

/** The Docker ID a fleet tool assigned to this machine (`IMAGE_ACCESS_USER`): a name only, never a secret. */
export function provisionedSource(username: string): IdentitySource {
  const user = signedInUser(PROVISIONED_SOURCE, username, undefined);
  return { name: PROVISIONED_SOURCE, lookup: () => Promise.resolve(user) };
}
