import { z } from 'zod';
import { decodeBase64, splitBasicAuth } from './decode';
import { optionalUsername, signedInUser, type HubCredential, type SignedInUser } from './identity';

/** The Docker CLI's AuthConfig fields that say who is signed in, as config.json and `X-Registry-Auth` carry them. */
export const authConfigSchema = z.object({
  auth: z.string().nullish(),
  username: z.string().nullish(),
  password: z.string().nullish(),
  identitytoken: z.string().nullish(),
});

/**
 * The user an AuthConfig describes: `auth` (base64 `user:secret`) fills in a missing username or password, and an
 * identity token is preferred to a password. Neither name nor credential means signed out. Errors never quote values.
 */
export function userFromAuthConfig(source: string, config: z.infer<typeof authConfigSchema>): SignedInUser | Error {
  let username = config.username ?? '';
  let password = config.password ?? '';
  if (config.auth) {
    const basic = splitBasicAuth(decodeBase64(config.auth) ?? '');
    if (basic === undefined) return new Error('"auth" is not base64 user:secret');
    username ||= basic.username;
    password ||= basic.secret;
  }
  const name = optionalUsername(username);
  if (name instanceof Error) return name;
  const credential: HubCredential | undefined = config.identitytoken
    ? { kind: 'identitytoken', secret: config.identitytoken }
    : password
      ? { kind: 'password', secret: password }
      : undefined;
  return signedInUser(source, name, credential);
}

export const isSignedOut = (user: SignedInUser): boolean => user.username === undefined && user.credential === undefined;
