import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../audit/logger';
import type { IdentitySourceName } from '../config/settings';
import { then, type MaybeAsync } from '../maybe-async';
import { runCredentialHelper, isHelperName, type HelperOptions, type HelperResult } from './credential-helper';
import { authConfigSchema, isSignedOut, userFromAuthConfig } from './auth-config';
import { parseJson } from './decode';
import { HUB_SERVER_URL, isHubServerAddress } from './hub-address';
import { optionalUsername, signedInUser, type HubCredential, type IdentitySource, type SignedInUser } from './identity';
import { watchedFile, type FileState } from './watched-file';

const DOCKER_CONFIG_SOURCE: IdentitySourceName = 'docker-config';
/** Long enough that a burst of pulls runs the helper once, short enough that a sign-out elsewhere shows up soon. */
const HELPER_CACHE_MS = 10_000;
const HELPER_TIMEOUT_MS = 2_000;

const dockerConfigSchema = z.object({
  auths: z.record(authConfigSchema).nullish(),
  credsStore: z.string().nullish(),
  credHelpers: z.record(z.string()).nullish(),
});

/** How the machine's Docker CLI keeps its Docker Hub sign-in, read from config.json. */
export type HubSignIn =
  | { readonly kind: 'none' }
  | { readonly kind: 'stored'; readonly user: SignedInUser }
  | { readonly kind: 'helper'; readonly helper: string };

/** The entry for Docker Hub in a map keyed by server address: the CLI's own key first, then any alias. */
function hubEntry<T>(record: Readonly<Record<string, T>> | null | undefined): T | undefined {
  if (!record) return undefined;
  if (record[HUB_SERVER_URL] !== undefined) return record[HUB_SERVER_URL];
  const key = Object.keys(record).find(isHubServerAddress);
  return key === undefined ? undefined : record[key];
}

function storedSignIn(entry: z.infer<typeof authConfigSchema>): HubSignIn | Error {
  const user = userFromAuthConfig(DOCKER_CONFIG_SOURCE, entry);
  if (user instanceof Error) return new Error(`Docker Hub entry: ${user.message}`);
  return isSignedOut(user) ? { kind: 'none' } : { kind: 'stored', user };
}

/**
 * Where the CLI would look for Docker Hub credentials (docker/cli GetCredentialsStore): a `credHelpers` entry for Hub,
 * else `credsStore`, else the `auths` entry itself. Errors never quote the file.
 */
export function parseDockerConfig(text: string): HubSignIn | Error {
  const data = parseJson(text);
  if (data instanceof Error) return data;
  const parsed = dockerConfigSchema.safeParse(data);
  if (!parsed.success) return new Error(`unexpected shape at ${parsed.error.issues[0]?.path.join('.') || 'top level'}`);
  const config = parsed.data;
  const helper = hubEntry(config.credHelpers) || config.credsStore;
  if (helper) return isHelperName(helper) ? { kind: 'helper', helper } : new Error('credential helper name is not valid');
  const entry = hubEntry(config.auths);
  return entry === undefined ? { kind: 'none' } : storedSignIn(entry);
}

function helperUser(result: HelperResult): SignedInUser | undefined {
  if (result.kind !== 'found') return undefined;
  const name = optionalUsername(result.username);
  if (name instanceof Error) return undefined;
  const credential: HubCredential = { kind: result.identityToken ? 'identitytoken' : 'password', secret: result.secret };
  return signedInUser(DOCKER_CONFIG_SOURCE, name, credential);
}

export interface DockerConfigOptions {
  /** Directory holding config.json (the CLI's DOCKER_CONFIG). */
  readonly directory: string;
  readonly logger: Logger;
  readonly clock: () => number;
  readonly helper?: Partial<HelperOptions>;
}

/**
 * The machine's Docker Hub sign-in, as `docker login` left it. config.json is re-read when it changes and helper
 * answers are kept briefly, so a sign-in or sign-out takes effect within seconds, without a restart. Nobody signed in
 * defers to the next source.
 */
export function dockerConfigSource({ directory, logger, clock, helper }: DockerConfigOptions): IdentitySource {
  const helperOptions: HelperOptions = {
    timeoutMs: helper?.timeoutMs ?? HELPER_TIMEOUT_MS,
    searchPath: helper?.searchPath ?? process.env['PATH'],
  };
  const path = join(directory, 'config.json');
  const describe = (state: FileState<HubSignIn>) => {
    if (state.kind === 'missing') logger.info('no Docker sign-in on this machine', { path });
    else if (state.kind === 'unreadable') logger.warn('Docker config unreadable; ignored', { path, problem: state.problem });
    else if (state.value.kind === 'stored') logger.info('Docker sign-in read', { path, user: state.value.user.username });
    else if (state.value.kind === 'helper') logger.info('Docker sign-in kept by a credential helper', { path, helper: state.value.helper });
    else logger.info('Docker config has no Docker Hub sign-in', { path });
  };
  // The helper's answer once it came, so that a pull within HELPER_CACHE_MS takes it without waiting on a promise.
  let cached: { helper: string; expires: number; result: Promise<HelperResult>; answer?: HelperResult } | undefined;
  // `docker login` and `docker logout` rewrite config.json even with a helper: a change drops the helper's answer too.
  const config = watchedFile(path, parseDockerConfig, (state) => {
    cached = undefined;
    describe(state);
  });

  const askHelper = (name: string): MaybeAsync<HelperResult> => {
    const now = clock();
    if (cached && cached.helper === name && cached.expires > now) return cached.answer ?? cached.result;
    const asked: NonNullable<typeof cached> = {
      helper: name,
      expires: now + HELPER_CACHE_MS,
      result: runCredentialHelper(name, HUB_SERVER_URL, helperOptions).then((answer) => {
        if (answer.kind === 'failed') logger.warn('credential helper failed; Docker sign-in unknown', { helper: name, problem: answer.problem });
        asked.answer = answer;
        return answer;
      }),
    };
    cached = asked;
    return asked.result;
  };

  return {
    name: DOCKER_CONFIG_SOURCE,
    lookup: () =>
      then(config.read(), (state) => {
        if (state.kind !== 'ok') return undefined;
        const signIn = state.value;
        if (signIn.kind === 'none') return undefined;
        if (signIn.kind === 'stored') return signIn.user;
        return then(askHelper(signIn.helper), helperUser);
      }),
  };
}
