/**
 * The plugins the bench compares, and how each is started:
 * - minimal: the floor for any Node plugin (bench/minimal-plugin.ts);
 * - imageAccess: exactly as the managed plugin runs it: config.json's `entrypoint` (node flags included) with
 *   /opt/image-access mapped to this repository, config.json's env defaults, and the realistic settings (an
 *   organisation's policy from the stand-in Hub, the machine signed in as a member, so sign-in is enforced);
 * - opa (opa-docker-authz) and authzBroker (twistlock authz-broker), Go peers, when their binaries are given:
 *   IMAGE_ACCESS_BENCH_OPA + IMAGE_ACCESS_BENCH_OPA_POLICY, IMAGE_ACCESS_BENCH_AUTHZ_BROKER +
 *   IMAGE_ACCESS_BENCH_AUTHZ_BROKER_POLICY (`make bench` sets them from ../shared/peers). A peer whose binary is
 *   absent is left out of every table.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { httpRequest, spawnTracked, waitUntil, type TrackedProcess } from '../test/harness';
import { startStandInHub, type StandInHub } from '../test/hub';

export type PluginKey = 'minimal' | 'imageAccess' | 'opa' | 'authzBroker';

export const PLUGIN_LABELS: Readonly<Record<PluginKey, string>> = {
  minimal: 'minimal node:http plugin',
  imageAccess: 'image-access',
  opa: 'opa-docker-authz',
  authzBroker: 'authz-broker',
};

/** Compiled to bench/dist/bench/: the repository is three levels up. */
export const BENCH_DIST = resolve(__dirname);
export const REPO = resolve(BENCH_DIST, '..', '..', '..');
const MINIMAL_PLUGIN = join(BENCH_DIST, 'minimal-plugin.js');

export interface Peer {
  readonly binary: string;
  readonly policy: string;
}

/** The Go peers whose binary and policy exist, from the environment. */
export function peersFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<Record<'opa' | 'authzBroker', Peer>> {
  const peer = (binaryVar: string, policyVar: string): Peer | undefined => {
    const binary = env[binaryVar];
    const policy = env[policyVar];
    return binary && policy && existsSync(binary) && existsSync(policy) ? { binary, policy } : undefined;
  };
  const opa = peer('IMAGE_ACCESS_BENCH_OPA', 'IMAGE_ACCESS_BENCH_OPA_POLICY');
  const authzBroker = peer('IMAGE_ACCESS_BENCH_AUTHZ_BROKER', 'IMAGE_ACCESS_BENCH_AUTHZ_BROKER_POLICY');
  return { ...(opa && { opa }), ...(authzBroker && { authzBroker }) };
}

/** Every plugin this run can compare, in table order. */
export function availablePlugins(env: NodeJS.ProcessEnv = process.env): PluginKey[] {
  const peers = peersFromEnv(env);
  return ['minimal', 'imageAccess', ...(['opa', 'authzBroker'] as const).filter((key) => peers[key] !== undefined)];
}

interface ManifestEnv {
  readonly name: string;
  readonly value: string;
}

/**
 * config.json's entrypoint, runnable here: `/usr/bin/node [flags] /opt/image-access/PATH` becomes `node` with the
 * same flags and PATH under `repo` (which mirrors /opt/image-access after `make build`).
 */
export function entrypointHere(entrypoint: readonly string[], repo: string, node: string): { command: string; args: string[] } {
  const [command, ...args] = entrypoint;
  if (command === undefined || !/(^|\/)node$/.test(command)) throw new Error(`config.json entrypoint does not start with node: ${JSON.stringify(entrypoint)}`);
  return { command: node, args: args.map((arg) => arg.replace(/^\/opt\/image-access(?=\/|$)/, repo)) };
}

/** config.json's entrypoint with this node and this repository. */
export function imageAccessEntrypoint(): { command: string; args: string[] } {
  const manifest = JSON.parse(readFileSync(join(REPO, 'config.json'), 'utf8')) as { entrypoint: string[] };
  return entrypointHere(manifest.entrypoint, REPO, process.execPath);
}

/** The env values config.json gives the managed plugin (its defaults), under the bench's own. */
function manifestEnv(): Record<string, string> {
  const manifest = JSON.parse(readFileSync(join(REPO, 'config.json'), 'utf8')) as { env: ManifestEnv[] };
  return Object.fromEntries(manifest.env.filter((entry) => entry.value !== '').map((entry) => [entry.name, entry.value]));
}

/**
 * The bench's environment without IMAGE_ACCESS_* and NODE_*: a plugin gets only the settings the bench gives it, and a
 * Node plugin starts as the managed plugin does, without the host's Node settings (a NODE_EXTRA_CA_CERTS naming the
 * system bundle, as on this machine, adds ~35 ms of CPU and ~8 MiB to every node process and flattered image-access's
 * ratios to the minimal plugin).
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('IMAGE_ACCESS_') && !key.startsWith('NODE_')));
}

export const HUB_MEMBER = { username: 'dev', password: 'bench-password' };
export const HUB_ORG = 'acme';

/** The stand-in Hub: organisation acme restricts images to Official and Verified Publisher ones; dev is a member. */
export function startBenchHub(): Promise<StandInHub> {
  return startStandInHub({
    users: [{ username: HUB_MEMBER.username, secrets: [HUB_MEMBER.password] }],
    orgs: [
      { orgname: HUB_ORG, members: { [HUB_MEMBER.username]: 'Member' }, settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true } },
      { orgname: 'bitnami', badge: 'verified_publisher' },
    ],
  });
}

/** A docker CLI config dir in which the machine is signed in to Docker Hub as the org member. */
export function signedInConfigDir(dir: string): string {
  const config = join(dir, 'hub-sign-in');
  mkdirSync(config, { recursive: true });
  const auth = Buffer.from(`${HUB_MEMBER.username}:${HUB_MEMBER.password}`).toString('base64');
  writeFileSync(join(config, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth } } }));
  return config;
}

/**
 * The realistic image-access settings: the managed plugin's defaults, organisation acme (so sign-in is enforced:
 * IMAGE_ACCESS_REQUIRE_SIGNIN=auto), its policy from the (stand-in) Hub unless `policy` names another source, the
 * machine signed in as a member, an audit log; every path the host's would be is one of the bench's.
 */
export function imageAccessEnv(dir: string, hubUrl: string, extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  return {
    ...cleanEnv(),
    ...manifestEnv(),
    IMAGE_ACCESS_ORG: HUB_ORG,
    IMAGE_ACCESS_HUB_URL: hubUrl,
    IMAGE_ACCESS_DOCKER_CONFIG: signedInConfigDir(dir),
    IMAGE_ACCESS_REGISTRY_JSON: '',
    IMAGE_ACCESS_DAEMON_JSON: '',
    IMAGE_ACCESS_STATE_DIR: join(dir, 'state'),
    IMAGE_ACCESS_AUDIT_LOG: 'audit.log',
    ...extra,
  };
}

export interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Where the plugin serves once started. */
  readonly socket: string;
}

/**
 * The Go peers, each in a private mount namespace where a directory of the bench's own (`id` keeps starts apart) is
 * bound over /run/docker/plugins: both serve there (authz-broker at a fixed path, authz-broker.sock), so their sockets
 * land in the bench's temp dir, never collide with another run or a real plugin, and vanish with it even when the
 * bench is killed. unshare and sh exec, so the pid stays the peer's.
 */
export function peerLaunch(key: 'opa' | 'authzBroker', peer: Peer, dir: string, id: string): Launch {
  const own = join(dir, `${key}-${id}`);
  mkdirSync(own, { recursive: true });
  mkdirSync('/run/docker/plugins', { recursive: true });
  const [socketName, args] =
    key === 'opa' ? ['opa.sock', ['-plugin-name', 'opa', '-policy-file', peer.policy]] : ['authz-broker.sock', ['--policy-file', peer.policy]];
  return {
    command: 'unshare',
    args: ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /run/docker/plugins && exec "$@"', own, peer.binary, ...args],
    env: cleanEnv(),
    socket: join(own, socketName),
  };
}

export function minimalLaunch(socket: string): Launch {
  return { command: process.execPath, args: [MINIMAL_PLUGIN, socket], env: cleanEnv(), socket };
}

export function imageAccessLaunch(socket: string, env: NodeJS.ProcessEnv): Launch {
  const { command, args } = imageAccessEntrypoint();
  return { command, args, env: { ...env, IMAGE_ACCESS_SOCKET: socket }, cwd: REPO, socket };
}

/** `taskset -c CORE` in front of a launch (it execs: the pid stays the plugin's). */
export function pinnedTo(core: number | undefined, launch: Launch): Launch {
  return core === undefined ? launch : { ...launch, command: 'taskset', args: ['-c', String(core), launch.command, ...launch.args] };
}

const activates = async (socket: string) =>
  (await httpRequest({ socketPath: socket, path: '/Plugin.Activate' }, { method: 'POST', timeoutMs: 2_000 })).status === 200;

export interface Serving {
  readonly process: TrackedProcess;
  readonly socket: string;
  /** Milliseconds from spawn to the first answered /Plugin.Activate. */
  readonly readyMs: number;
  /** Stops the process by pid and removes its socket (opa-docker-authz leaves its own behind). */
  stop(): Promise<void>;
}

/** Starts a plugin and resolves once it answers /Plugin.Activate. */
export async function startServing(dir: string, name: string, launch: Launch): Promise<Serving> {
  const start = process.hrtime.bigint();
  const started = spawnTracked(name, launch.command, launch.args, { logDir: dir, env: launch.env, cwd: launch.cwd });
  try {
    await waitUntil(`${name} to answer /Plugin.Activate`, () => activates(launch.socket), {
      timeoutMs: 20_000,
      intervalMs: 1,
      abort: () => (started.isRunning() ? undefined : `${name} exited; see ${started.stderrPath}`),
    });
  } catch (error) {
    await started.stop();
    throw error;
  }
  const readyMs = Number(process.hrtime.bigint() - start) / 1e6;
  const stop = async () => {
    await started.stop();
    rmSync(launch.socket, { force: true });
  };
  return { process: started, socket: launch.socket, readyMs, stop };
}

/** How to launch each plugin of this run, given what image-access should run with. */
export function launcher(dir: string, iaEnv: NodeJS.ProcessEnv): (key: PluginKey, id: string) => Launch {
  const peers = peersFromEnv();
  return (key, id) => {
    if (key === 'minimal') return minimalLaunch(join(dir, `minimal-${id}.sock`));
    if (key === 'imageAccess') return imageAccessLaunch(join(dir, `ia-${id}.sock`), iaEnv);
    const peer = peers[key];
    if (peer === undefined) throw new Error(`${PLUGIN_LABELS[key]}: no binary given`);
    return peerLaunch(key, peer, dir, id);
  };
}
