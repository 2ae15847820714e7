/**
 * `image-access check IMAGE [--user U] [--json] [--offline [settings flags]]`: the decision the plugin makes for
 * `docker pull IMAGE`, explained. By default the running plugin answers over its admin listener (IMAGE_ACCESS_METRICS),
 * with its own settings, so the answer is exactly the daemon's; `--offline` runs the plugin's code in-process with the
 * settings given here instead.
 */
import { z } from 'zod';
import { createLogger } from '../audit/logger';
import { flagName, loadSettings, SETTINGS, type Settings } from '../config/settings';
import { createPluginCore } from '../run';
import { explanationSchema, type Explanation, type NotJudged } from './explain';
import { describeListen, fetchFromAdmin } from './status';
import { EXIT_ERROR, EXIT_NOT_OK, EXIT_OK, guarded, type CommandIo } from './command-io';

export const CHECK_USAGE = `  image-access check IMAGE [--user U] [--json] [--offline [options]]
      explain the decision the running plugin makes for \`docker pull IMAGE\`, asked over its admin listener
      (IMAGE_ACCESS_METRICS); --offline: decided here with these settings, without a plugin; --user U: as Docker ID U;
      --json: the decision as JSON; exit 0 allowed (or only warned), 1 denied, 2 error`;

const FLAGS_WITH_VALUES = new Set(SETTINGS.map((spec) => flagName(spec.env)));
const USER_FLAG = flagName('IMAGE_ACCESS_USER');
const METRICS_FLAG = flagName('IMAGE_ACCESS_METRICS');
const SWITCHES = ['--offline', '--json'] as const;

/** Separates positional words and `--offline`/`--json` from `--flag value` / `--flag=value` pairs, which go to the settings. */
export function splitArguments(args: readonly string[]): { positional: string[]; flags: string[]; switches: Set<string> } {
  const positional: string[] = [];
  const flags: string[] = [];
  const switches = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if ((SWITCHES as readonly string[]).includes(arg)) switches.add(arg);
    else if (!arg.startsWith('--')) positional.push(arg);
    else if (arg.includes('=') || !FLAGS_WITH_VALUES.has(arg) || i + 1 >= args.length) flags.push(arg);
    else flags.push(arg, args[++i]!);
  }
  return { positional, flags, switches };
}

function ago(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function explain(event: Explanation['decision'], message: string, now: number): string {
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

const isFlag = (flag: string, name: string) => flag === name || flag.startsWith(`${name}=`);

async function check(args: readonly string[], io: CommandIo): Promise<number> {
  const { positional, flags, switches } = splitArguments(args);
  if (positional.length !== 1) {
    io.err(`image-access check: name exactly one image, e.g. image-access check alpine:3.20 --user alice\n`);
    return EXIT_ERROR;
  }
  const image = positional[0]!;
  const settings = loadSettings(io.env, flags);
  const asUser = flags.some((flag) => isFlag(flag, USER_FLAG)) ? settings.user : undefined;
  let explained: Explanation | NotJudged | undefined;
  if (switches.has('--offline')) {
    explained = await offline(settings, image, asUser, io);
  } else {
    const other = flags.find((flag) => flag.startsWith('--') && !isFlag(flag, USER_FLAG) && !isFlag(flag, METRICS_FLAG));
    if (other !== undefined) {
      io.err(`image-access check: ${other.split('=')[0]} applies only with --offline: the running plugin judges with its own settings\n`);
      return EXIT_ERROR;
    }
    explained = await online(settings, image, asUser, io);
    if (explained === undefined) return EXIT_ERROR;
  }
  if ('notJudged' in explained) {
    io.err(`image-access check: ${JSON.stringify(image)} is not an image pull the plugin judges: ${explained.notJudged}\n`);
    return EXIT_ERROR;
  }
  io.out(switches.has('--json') ? `${JSON.stringify(explained)}\n` : explain(explained.decision, explained.message, io.clock()));
  return explained.decision.decision === 'deny' ? EXIT_NOT_OK : EXIT_OK;
}

async function offline(settings: Settings, image: string, user: string | undefined, io: CommandIo): Promise<Explanation | NotJudged> {
  // Errors only: the decision is the output, a pull's log line would repeat it.
  const core = createPluginCore(settings, createLogger('error'), io.clock);
  try {
    return await core.explain(image, user);
  } finally {
    core.close();
  }
}

/** The running plugin's answer; undefined (having said why) when there is none. */
async function online(settings: Settings, image: string, user: string | undefined, io: CommandIo): Promise<Explanation | NotJudged | undefined> {
  if (settings.metrics === undefined) {
    io.err(
      `image-access check: asks the running plugin over its admin listener; set IMAGE_ACCESS_METRICS (or ${METRICS_FLAG}) to the ` +
        `address it listens on, or add --offline to decide here with this shell's settings\n`,
    );
    return undefined;
  }
  const where = describeListen(settings.metrics);
  const query = new URLSearchParams({ image, ...(user === undefined ? {} : { user }) });
  let reply: { status: number; body: string };
  try {
    reply = await fetchFromAdmin(settings.metrics, `/check?${query.toString()}`);
  } catch (error) {
    io.err(`image-access check: no plugin answers on ${where}: ${(error as Error).message} (--offline decides without one)\n`);
    return undefined;
  }
  const body = parseJson(reply.body);
  if (reply.status === 422) return { notJudged: errorOf(body) ?? 'refused' };
  const parsed = reply.status === 200 ? explanationSchema.safeParse(body) : undefined;
  if (parsed?.success !== true) {
    io.err(`image-access check: ${where} did not answer like image-access (HTTP ${reply.status}${errorOf(body) === undefined ? '' : `: ${errorOf(body)}`})\n`);
    return undefined;
  }
  return parsed.data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const errorReply = z.object({ error: z.string() });

/** The admin listener's `{"error": ...}`, if that is what it sent. */
function errorOf(body: unknown): string | undefined {
  const parsed = errorReply.safeParse(body);
  return parsed.success ? parsed.data.error : undefined;
}
