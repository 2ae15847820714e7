import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SETTINGS } from '../../src/config/settings';
import { cliConfigDir } from './docker-cli';
import { spawnTracked, type TrackedProcess } from './processes';
import { httpRequest, waitUntil } from './wait';

export const REPO_ROOT = resolve(__dirname, '..', '..');
/** What ships (scripts/bundle.js), so a bundling mistake fails the tests: `make build`, or the e2e global setup. */
export const PLUGIN_CLI = join(REPO_ROOT, 'bundle', 'cli.js');
const MANIFEST = JSON.parse(readFileSync(join(REPO_ROOT, 'config.json'), 'utf8')) as { entrypoint: string[]; env: Array<{ name: string; value: string }> };
const ENTRYPOINT = MANIFEST.entrypoint;
/** The script the managed plugin's entrypoint runs (config.json): the same file under /opt/image-access, its workdir. */
export const MANAGED_SCRIPT = ENTRYPOINT.find((arg) => arg.startsWith('/opt/image-access/'))!;
/** The node flags of config.json's entrypoint: the plugin process runs with them however it is started. */
export const PLUGIN_NODE_FLAGS: readonly string[] = ENTRYPOINT.slice(1, -1);
/** config.json's environment that is not a setting (GLIBC_TUNABLES): the plugin process starts with it however it is started. */
export const PLUGIN_RUNTIME_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  MANIFEST.env.filter((entry) => !SETTINGS.some((setting) => setting.env === entry.name)).map((entry) => [entry.name, entry.value]),
);
/** Where the daemon looks for legacy plugin spec files (fixed; it cannot be pointed elsewhere). */
export const LEGACY_SPEC_DIR = '/etc/docker/plugins';

/** A unique legacy plugin name, so harnesses running at the same time never share a spec file. */
export function uniquePluginName(prefix = 'ia-test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Makes the daemon find plugin `name` at `socket`: writes `/etc/docker/plugins/<name>.spec`. Returns the spec path;
 * remove it with `unregisterLegacyPlugin`. Use directly for a plugin process the harness did not start.
 */
export function registerLegacyPlugin(name: string, socket: string): string {
  mkdirSync(LEGACY_SPEC_DIR, { recursive: true });
  const spec = join(LEGACY_SPEC_DIR, `${name}.spec`);
  writeFileSync(spec, `unix://${socket}\n`);
  return spec;
}

export function unregisterLegacyPlugin(name: string): void {
  rmSync(join(LEGACY_SPEC_DIR, `${name}.spec`), { force: true });
}

export interface PluginOptions {
  /** Legacy plugin name the daemon is told about; default a fresh `ia-test-xxxxxxxx`. */
  readonly name?: string;
  /**
   * IMAGE_ACCESS_* settings (IMAGE_ACCESS_SOCKET is set by the harness). Those of the test process's own environment
   * are never inherited, and the host's sign-in files are never read: IMAGE_ACCESS_DOCKER_CONFIG defaults to the
   * harness CLI's config dir (`<dir>/cli`) and IMAGE_ACCESS_REGISTRY_JSON to none.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** Command-line flags for `image-access run`. */
  readonly args?: readonly string[];
}

export interface PluginProcess {
  readonly name: string;
  readonly socket: string;
  /** The running process; replaced by `restart()`. */
  readonly process: TrackedProcess;
  /** Everything the plugin wrote to stderr so far (its JSON log lines), over all its runs. */
  logText(): string;
  /** The JSON log lines, parsed; lines that are not JSON are skipped. */
  logLines(): Array<Record<string, unknown>>;
  /** Stops the process (the spec file stays, so the daemon sees an outage, as in production). */
  kill(): Promise<void>;
  /** Stops it if running, then starts it again on the same socket, optionally with other settings. */
  restart(options?: Pick<PluginOptions, 'env' | 'args'>): Promise<void>;
  /** Stops the process and removes the spec file. */
  stop(): Promise<void>;
}

/** The test process's environment minus its IMAGE_ACCESS_* settings, which would make results depend on the shell. */
function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('IMAGE_ACCESS_')));
}

function isolatedDefaults(dir: string): Record<string, string> {
  const dockerConfig = cliConfigDir(dir);
  mkdirSync(dockerConfig, { recursive: true });
  return { IMAGE_ACCESS_DOCKER_CONFIG: dockerConfig, IMAGE_ACCESS_REGISTRY_JSON: '' };
}

function assertBuilt(): void {
  if (!existsSync(PLUGIN_CLI)) throw new Error(`${PLUGIN_CLI} is missing: build first (make build, or node scripts/bundle.js)`);
}

/** Answers `/Plugin.Activate` with authz: what the daemon checks first. */
async function activates(socket: string): Promise<boolean> {
  const reply = await httpRequest({ socketPath: socket, path: '/Plugin.Activate' }, { method: 'POST', timeoutMs: 2_000 });
  return reply.status === 200 && reply.body.includes('authz');
}

/** Starts `node bundle/cli.js` on `<dir>/plugin.sock` and registers it as a legacy plugin. */
export async function startPlugin(dir: string, options: PluginOptions = {}): Promise<PluginProcess> {
  assertBuilt();
  const name = options.name ?? uniquePluginName();
  const socket = join(dir, 'plugin.sock');
  let current = { env: options.env ?? {}, args: options.args ?? [] };
  let child: TrackedProcess | undefined;

  const stderrPath = join(dir, 'plugin.err');
  const logText = () => (existsSync(stderrPath) ? readFileSync(stderrPath, 'utf8') : '');
  const startLines = () => logText().split('"image-access listening"').length - 1;

  const launch = async () => {
    const env: NodeJS.ProcessEnv = { ...inheritedEnv(), ...PLUGIN_RUNTIME_ENV, ...isolatedDefaults(dir), ...current.env, IMAGE_ACCESS_SOCKET: socket };
    const startedBefore = startLines();
    const started = spawnTracked('plugin', process.execPath, [...PLUGIN_NODE_FLAGS, PLUGIN_CLI, 'run', ...current.args], { logDir: dir, env, cwd: REPO_ROOT });
    child = started;
    const abort = () => (started.isRunning() ? undefined : `the plugin exited: ${readFileSync(started.stderrPath, 'utf8').slice(-2000)}`);
    await waitUntil(`plugin ${name} to answer /Plugin.Activate on ${socket}`, () => activates(socket), { timeoutMs: 20_000, intervalMs: 50, abort });
    // A starting plugin writes its first lines once it has answered Activate (audit/logger.ts): until its start line
    // is in the log, a test reading the log right after a decision could miss the decision's line.
    if (['warn', 'error'].includes(env['IMAGE_ACCESS_LOG_LEVEL'] ?? '')) return;
    await waitUntil(`plugin ${name} to write its start line`, async () => startLines() > startedBefore, { timeoutMs: 10_000, intervalMs: 20, abort });
  };

  registerLegacyPlugin(name, socket);
  try {
    await launch();
  } catch (error) {
    await child?.stop();
    unregisterLegacyPlugin(name);
    throw error;
  }
  return {
    name,
    socket,
    get process() {
      return child!;
    },
    logText,
    logLines: () =>
      logText()
        .split('\n')
        .flatMap((line) => {
          try {
            const parsed: unknown = JSON.parse(line);
            return typeof parsed === 'object' && parsed !== null ? [parsed as Record<string, unknown>] : [];
          } catch {
            return [];
          }
        }),
    kill: async () => {
      await child?.stop();
    },
    restart: async (next) => {
      await child?.stop();
      current = { env: next?.env ?? current.env, args: next?.args ?? current.args };
      await launch();
    },
    stop: async () => {
      await child?.stop();
      unregisterLegacyPlugin(name);
    },
  };
}
