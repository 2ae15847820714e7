/**
 * `image-access validate [--plugin NAME] [KEY=VALUE...] [options]`: would the plugin start with these settings, and
 * does it get a policy? Before `docker plugin enable` (which only reports a dial error after retrying for a while when
 * the plugin refuses its settings) or before restarting the host process. With `--plugin NAME` the settings are the
 * managed plugin's own (`docker plugin inspect`), with KEY=VALUE changes on top as `docker plugin set` would make
 * them; the managed plugin sees the host's files at the same paths (README: what it sees of the host), so the
 * files it names are checked here.
 */
import { silentLogger } from '../audit/logger';
import { loadSettings, type Settings } from '../config/settings';
import { dockerPluginInspect, type PluginInspector } from '../install/plugin-socket';
import { policyStatusProbe } from '../observability/policy-status';
import { settingsAgents } from '../network/outbound-settings';
import { createPluginCore, type PluginCore } from '../run';
import { splitArguments } from './check';
import { EXIT_ERROR, EXIT_NOT_OK, EXIT_OK, guarded, type CommandIo } from './command-io';
import { z } from 'zod';

export const VALIDATE_USAGE = `  image-access validate [--plugin NAME] [KEY=VALUE ...] [options]
      check the settings (the environment's, or managed plugin NAME's with KEY=VALUE changes on top, as
      docker plugin set takes them) and that a policy can be had with them; exit 0 valid, 1 not, 2 error`;

const pluginEnvSchema = z.array(z.object({ Settings: z.object({ Env: z.array(z.string()) }) })).length(1);

/** `KEY=VALUE` words into an environment; anything else is an Error naming it. */
export function parseAssignments(words: readonly string[]): Record<string, string> | Error {
  const env: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) return new Error(`expected KEY=VALUE, got ${JSON.stringify(word)}`);
    env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return env;
}

export function runValidate(args: readonly string[], io: CommandIo, inspect: PluginInspector = dockerPluginInspect): Promise<number> {
  return guarded('validate', io, () => validate(args, io, inspect));
}

async function validate(args: readonly string[], io: CommandIo, inspect: PluginInspector): Promise<number> {
  const { plugin, rest } = takePluginOption(args);
  if (plugin === '') {
    io.err('image-access validate: --plugin needs the managed plugin name\n');
    return EXIT_ERROR;
  }
  const { positional, flags } = splitArguments(rest);
  const changes = parseAssignments(positional);
  if (changes instanceof Error) {
    io.err(`image-access validate: ${changes.message}\n`);
    return EXIT_ERROR;
  }
  let base: Readonly<Record<string, string | undefined>> = io.env;
  if (plugin !== undefined) {
    const output = await inspect(plugin);
    const parsed = output instanceof Error ? undefined : pluginEnvSchema.safeParse(safeJson(output));
    if (!parsed?.success) {
      io.err(`image-access validate: cannot read the settings of managed plugin ${plugin}: ${output instanceof Error ? output.message : 'unexpected docker plugin inspect output'}\n`);
      return EXIT_ERROR;
    }
    const pluginEnv = parseAssignments(parsed.data[0]!.Settings.Env);
    if (pluginEnv instanceof Error) throw pluginEnv;
    base = pluginEnv;
  }
  let settings: Settings;
  let core: PluginCore;
  try {
    settings = loadSettings({ ...base, ...changes }, flags);
    settingsAgents(settings);
    // What the plugin builds at start; a policy file it cannot read stops it there.
    core = createPluginCore(settings, silentLogger(), io.clock);
  } catch (error) {
    io.out(`INVALID: the plugin would not start:\n${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_NOT_OK;
  }
  try {
    const status = await policyStatusProbe({ policySource: core.policySource, identity: core.identity, timeoutMs: settings.decisionTimeoutMs, clock: io.clock })();
    const who = `${status.user ?? '(nobody signed in)'} [${status.identitySource}]`;
    if (status.unavailable !== undefined) {
      io.out(`INVALID: the settings are valid but no policy can be had (${status.source}): ${status.unavailable}\n  user: ${who}\n`);
      return EXIT_NOT_OK;
    }
    const organization = status.organization === undefined ? '' : ` (organization ${status.organization})`;
    io.out(`VALID: policy ${status.source}${organization}${status.note ? `; ${status.note}` : ''}\n  user: ${who}\n  mode: ${settings.mode}\n`);
    return EXIT_OK;
  } finally {
    core.close();
  }
}

/** `--plugin NAME` or `--plugin=NAME` (empty when the name is missing), and the other arguments. */
function takePluginOption(args: readonly string[]): { plugin: string | undefined; rest: string[] } {
  let plugin: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--plugin') plugin = args[++i] ?? '';
    else if (arg.startsWith('--plugin=')) plugin = arg.slice('--plugin='.length);
    else rest.push(arg);
  }
  return { plugin, rest };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
