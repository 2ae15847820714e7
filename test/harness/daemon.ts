import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliConfigDir, runDocker, type DockerOptions, type DockerResult } from './docker-cli';
import { CLI_CONFIG_JSON, dockerdCommand, ENGINE, type DockerdCommand, type EngineVersion } from './engine-version';
import { spawnTracked, type TrackedProcess } from './processes';
import { httpRequest, waitUntil } from './wait';

export interface DaemonOptions {
  /** `127.0.0.1:PORT` of the stand-in Hub: used as `--registry-mirror` and `--insecure-registry`. */
  readonly mirror?: string;
  /** Legacy or managed plugin names, each passed as `--authorization-plugin`. */
  readonly authorizationPlugins?: readonly string[];
  /**
   * Contents of the daemon's `--config-file` (default `{}`, so the host's /etc/docker/daemon.json is never read).
   * dockerd refuses to start when a key here is also given as a flag (e.g. `authorization-plugins` with
   * `authorizationPlugins`, `registry-mirrors` with `mirror`).
   */
  readonly daemonJson?: Readonly<Record<string, unknown>>;
  /** More dockerd flags, appended last. */
  readonly extraArgs?: readonly string[];
  /** Extra environment for dockerd (e.g. HTTPS_PROXY, NO_PROXY, SSL_CERT_DIR), over the test process's own. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Host names dockerd alone resolves to these addresses (e.g. docker.io -> 127.0.0.1, so the machine's resolver never
   * stalls a pull): dockerd runs in a private mount namespace with its own /etc/hosts bound over the host's.
   */
  readonly hosts?: Readonly<Record<string, string>>;
}

export interface Daemon {
  /** Which dockerd runs: IA_ENGINE of the test run (see engine-version.ts). */
  readonly engine: EngineVersion;
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  /** The daemon's `--config-file`; rewrite it and call `reload()` to test SIGHUP reloads. */
  readonly configFile: string;
  /**
   * The CLI's DOCKER_CONFIG directory (where `docker login` writes config.json). Its config.json starts with
   * `cliPluginsExtraDirs` naming the trixie tree's docker-buildx and docker-compose; the CLI keeps the key when it
   * rewrites the file.
   */
  readonly dockerConfigDir: string;
  /** The running dockerd; replaced by `restart()`. */
  readonly process: TrackedProcess;
  /** Runs the real `docker` CLI against this daemon. */
  docker(args: readonly string[], options?: DockerOptions): Promise<DockerResult>;
  /** Writes a new config file and sends SIGHUP (dockerd reloads e.g. `authorization-plugins` this way). */
  reload(daemonJson: Readonly<Record<string, unknown>>): void;
  /** Stops dockerd and starts it again on the same data root, optionally with other options. */
  restart(options?: DaemonOptions): Promise<void>;
  /** Stops dockerd (which stops the containerd it started). */
  stop(): Promise<void>;
}

/** Generous: a slow CI machine with vfs storage and a managed plugin to enable can take a while. */
const START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 30_000;

interface DaemonPaths {
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly socket: string;
  readonly pidfile: string;
  readonly configFile: string;
  readonly namespace: string;
}

function daemonArgs(paths: DaemonPaths, options: DaemonOptions): string[] {
  return [
    '--data-root', paths.dataRoot,
    '--exec-root', paths.execRoot,
    '-H', `unix://${paths.socket}`,
    '--pidfile', paths.pidfile,
    '--config-file', paths.configFile,
    '--iptables=false',
    '--ip-masq=false',
    '--bridge=none',
    '--storage-driver=vfs',
    // Its own containerd namespaces: on a machine running a system containerd, dockerd uses that one instead of
    // starting its own, and daemons sharing a namespace would see each other's containers and managed plugins.
    `--containerd-namespace=${paths.namespace}`,
    `--containerd-plugins-namespace=${paths.namespace}-plugins`,
    ...(options.mirror ? [`--registry-mirror=http://${options.mirror}`, `--insecure-registry=${options.mirror}`] : []),
    ...(options.authorizationPlugins ?? []).map((name) => `--authorization-plugin=${name}`),
    ...(options.extraArgs ?? []),
  ];
}

function daemonEnv(dockerd: DockerdCommand, options: DaemonOptions): NodeJS.ProcessEnv {
  const path = [...dockerd.pathPrefix, process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':');
  return { ...process.env, PATH: path, ...options.env };
}

/** `command args` in a private mount namespace whose /etc/hosts pins `hosts` (unshare and sh exec: same pid). */
function withPinnedHosts(dir: string, hosts: DaemonOptions['hosts'], command: string, args: readonly string[]): [string, string[]] {
  if (hosts === undefined) return [command, [...args]];
  const file = join(dir, 'hosts');
  const pinned = Object.entries(hosts).map(([name, address]) => `${address} ${name}`);
  writeFileSync(file, ['127.0.0.1 localhost', '::1 localhost', ...pinned, ''].join('\n'));
  return ['unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', file, command, ...args]];
}

/**
 * Starts `dockerd` of the run's engine (IA_ENGINE) with every path under `dir`; resolves once `GET /_ping` answers
 * on its socket.
 */
export async function startDaemon(dir: string, options: DaemonOptions = {}): Promise<Daemon> {
  const paths: DaemonPaths = {
    namespace: `ia-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`,
    dataRoot: join(dir, 'd'),
    execRoot: join(dir, 'e'),
    socket: join(dir, 'docker.sock'),
    pidfile: join(dir, 'docker.pid'),
    configFile: join(dir, 'daemon.json'),
  };
  const dockerConfigDir = cliConfigDir(dir);
  mkdirSync(dockerConfigDir, { recursive: true });
  const cliConfig = join(dockerConfigDir, 'config.json');
  if (!existsSync(cliConfig)) writeFileSync(cliConfig, JSON.stringify(CLI_CONFIG_JSON, null, 2));
  const dockerd = dockerdCommand(ENGINE);
  let current = options;
  let child: TrackedProcess | undefined;
  const writeConfigFile = (daemonJson: Readonly<Record<string, unknown>> = {}) =>
    writeFileSync(paths.configFile, JSON.stringify(daemonJson, null, 2));

  const launch = async () => {
    writeConfigFile(current.daemonJson);
    const [command, args] = withPinnedHosts(dir, current.hosts, dockerd.command, daemonArgs(paths, current));
    const started = spawnTracked('dockerd', command, args, { logDir: dir, env: daemonEnv(dockerd, current) });
    child = started;
    try {
      await waitUntil(
        `dockerd to answer on ${paths.socket}`,
        async () => (await httpRequest({ socketPath: paths.socket, path: '/_ping' })).status === 200,
        { timeoutMs: START_TIMEOUT_MS, intervalMs: 200, abort: () => (started.isRunning() ? undefined : `dockerd exited; see ${started.stderrPath}`) },
      );
    } catch (error) {
      await started.stop(STOP_GRACE_MS);
      throw error;
    }
  };

  await launch();
  return {
    engine: ENGINE,
    socket: paths.socket,
    dataRoot: paths.dataRoot,
    execRoot: paths.execRoot,
    configFile: paths.configFile,
    dockerConfigDir,
    get process() {
      return child!;
    },
    docker: (args, dockerOptions) => runDocker(paths.socket, dockerConfigDir, args, dockerOptions),
    reload: (daemonJson) => {
      current = { ...current, daemonJson };
      writeConfigFile(daemonJson);
      child?.kill('SIGHUP');
    },
    restart: async (next) => {
      await child?.stop(STOP_GRACE_MS);
      current = next ?? current;
      await launch();
    },
    stop: async () => {
      await child?.stop(STOP_GRACE_MS);
    },
  };
}
