/**
 * `image-access check IMAGE [--user U] [settings flags]`: the decision the plugin would make for `docker pull IMAGE`
 * with these settings, explained, without a daemon. It runs the plugin's own Authorizer on a synthetic pull request
 * and reads the decision off the same observer hook the audit log uses, so it cannot drift from the real thing.
 */
import { createLogger } from '../audit/logger';
import { loadSettings, SETTINGS, flagName } from '../config/settings';
import { signedInUser } from '../identity/identity';
import type { DecisionEvent, DecisionObserver } from '../observability/events';
import { bareRequest, type AuthZRequest } from '../protocol/wire';
import { createPluginCore } from '../run';
import { EXIT_ERROR, EXIT_NOT_OK, EXIT_OK, guarded, type CommandIo } from './command-io';

export const CHECK_USAGE = `  image-access check IMAGE [--user U] [options]
      explain the decision the plugin would make for \`docker pull IMAGE\` with these settings, without a daemon
      (--user U: as Docker ID U); exit 0 allowed (or only warned), 1 denied, 2 error`;

/** What `docker pull IMAGE` sends, as far as the plugin sees it. */
export function pullRequest(image: string): AuthZRequest {
  return bareRequest('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(image)}`);
}

const FLAGS_WITH_VALUES = new Set(SETTINGS.map((spec) => flagName(spec.env)));
const USER_FLAG = flagName('IMAGE_ACCESS_USER');

/** Separates positional words from `--flag value` / `--flag=value` pairs, which go to the settings. */
export function splitArguments(args: readonly string[]): { positional: string[]; flags: string[] } {
  const positional: string[] = [];
  const flags: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) positional.push(arg);
    else if (arg.includes('=') || !FLAGS_WITH_VALUES.has(arg) || i + 1 >= args.length) flags.push(arg);
    else flags.push(arg, args[++i]!);
  }
  return { positional, flags };
}

function ago(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function explain(event: DecisionEvent, message: string, now: number): string {
  const verdict = { allow: 'ALLOWED', deny: 'DENIED', warn: 'ALLOWED in warn mode (enforce mode would deny it)' }[event.decision];
  const policy =
    event.policySource === undefined
      ? 'none in force'
      : `${event.policySource}${event.organization ? ` (organization ${event.organization})` : ''}` +
        (event.policyVersion === undefined ? '' : ` version ${event.policyVersion}`) +
        (event.policyFetchedAt === undefined ? '' : `, fetched ${new Date(event.policyFetchedAt).toISOString()} (${ago(now - event.policyFetchedAt)})`) +
        (event.policyStale === undefined ? '' : `; STALE: ${event.policyStale}`);
  const lines = [
    `${verdict}: ${event.image}`,
    `  category: ${event.category}`,
    `  rule:     ${event.rule}`,
    `  reason:   ${event.reason}`,
    `  user:     ${event.user ?? '(nobody signed in)'} [${event.identitySource ?? 'none'}]`,
    `  policy:   ${policy}`,
    `  mode:     ${event.mode}`,
  ];
  if (message !== '') lines.push(`  the developer would read: ${message}`);
  return `${lines.join('\n')}\n`;
}

export function runCheck(args: readonly string[], io: CommandIo): Promise<number> {
  return guarded('check', io, () => check(args, io));
}

async function check(args: readonly string[], io: CommandIo): Promise<number> {
  const { positional, flags } = splitArguments(args);
  if (positional.length !== 1) {
    io.err(`image-access check: name exactly one image, e.g. image-access check alpine:3.20 --user alice\n`);
    return EXIT_ERROR;
  }
  const image = positional[0]!;
  const settings = loadSettings(io.env, flags);
  const asUser = flags.some((flag) => flag === USER_FLAG || flag.startsWith(`${USER_FLAG}=`));
  const checkedUser = signedInUser('check --user', settings.user, undefined);
  // Errors only: the decision is the output, a pull's log line would repeat it.
  const logger = createLogger('error');
  let seen: DecisionEvent | undefined;
  const capture: DecisionObserver = { decided: (event) => (seen = event) };
  const core = createPluginCore(settings, logger, io.clock, {
    observers: [capture],
    ...(asUser ? { identity: { identify: () => Promise.resolve(checkedUser) } } : {}),
  });
  try {
    const reply = await core.authorizer.authorizeRequest(pullRequest(image));
    if (seen === undefined) {
      io.err(`image-access check: ${JSON.stringify(image)} is not an image pull the plugin judges: ${reply.Msg}\n`);
      return EXIT_ERROR;
    }
    io.out(explain(seen, reply.Msg, io.clock()));
    return reply.Allow ? EXIT_OK : EXIT_NOT_OK;
  } finally {
    core.close();
  }
}
