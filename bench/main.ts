/**
 * `make bench`: what image-access costs a resident daemon, against the minimal Node plugin and the Go peers
 * (opa-docker-authz, authz-broker: columns present when IMAGE_ACCESS_BENCH_* name their binaries), in one run on a
 * real dockerd started here. Writes bench/results/results.json, RESULTS.md, chart.svg/png and README's results table
 * (see report.ts). BENCH_QUICK=1 runs a tenth of it.
 *
 * Phases, each with the machine's load before and after:
 * 0. the managed plugin's size as pushed, built by plugin/build.sh from this tree;
 * 1. daemon rounds: API round trips through a dockerd with no plugin and one with each plugin, all running,
 *    interleaved (in every round each call is measured in batches alternating between the daemons, in a fresh
 *    shuffled order every cycle), then every plugin's RSS;
 * 2. daemon pace: CPU per API call, one call at a time (daemon-pace.ts), on the same plugin processes;
 * 3. the plugin alone: AuthZReq throughput per CPU second; image-access's RSS over 1M requests, then after 100k
 *    distinct namespaces and after 1 MiB bodies;
 * 4. decision latency in process; 5. start-up to the first answered Activate, every plugin and policy source in turn.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  makeTempDir,
  registerLegacyPlugin,
  removeTempDir,
  seedImages,
  sleep,
  startDaemon,
  startRegistry,
  uniquePluginName,
  unregisterLegacyPlugin,
  type Daemon,
  type DaemonOptions,
  type Registry,
} from '../test/harness';
import { API_CALLS, CallSeries } from './api-client';
import { lastJson, runChild } from './children';
import { measureDaemonPace, paceTable, UNLOGGED } from './daemon-pace';
import type { Timed } from './decision-latency';
import {
  availablePlugins,
  BENCH_DIST,
  cleanEnv,
  HUB_ORG,
  imageAccessEnv,
  launcher,
  pinnedTo,
  PLUGIN_LABELS,
  REPO,
  startBenchHub,
  startServing,
  type Launch,
  type PluginKey,
  type Serving,
} from './plugins';
import { cycleOrders, ORDER_SEED } from './interleave';
import { cpuSeconds, load1, rssMiB } from './proc';
import { writeReport, type ApiRound, type BenchResults, type Configuration, type LoadResult, type Phase, type StartKey } from './report';
import { summarize } from './stats';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const QUICK = process.env['BENCH_QUICK'] === '1';
const scale = (n: number) => (QUICK ? Math.ceil(n / 10) : n);
const SIZES = {
  /**
   * A cached pull's added latency ranges ~0.4 ms from round to round, and two copies of the minimal plugin in one
   * scratch run (A/A) differed by 0.06-0.125 ms over the medians of 10 rounds: about what the pull's bound leaves over
   * the minimal plugin (~0.07 ms).
   */
  daemonRounds: QUICK ? 3 : 10,
  /**
   * Each round's calls of one kind are split into this many batches, alternating between the daemons. Pulls alternate
   * call by call: a pull (~8 ms, through the registry mirror) drifts by a millisecond within a round, ten times what a
   * plugin adds, and in batches of 6 one plugin's p50 ranged 0.09-0.99 ms over 5 rounds (0.52-0.86 call by call).
   */
  batches: 10,
  apiCalls: scale(600),
  /** Pulls per configuration and round: two copies of the minimal plugin differed by 0.06-0.11 ms with 200. */
  pulls: scale(400),
  concurrency: 8,
  warmUp: scale(100),
  paceCalls: scale(3000),
  paceRounds: 3,
  loadWarmUp: scale(50_000),
  loadTotal: scale(1_000_000),
  pullsTotal: scale(200_000),
  minimalTotal: scale(200_000),
  peerTotal: scale(20_000),
  bodies: scale(500),
  namespaces: scale(100_000),
  connections: 32,
  decisions: scale(100_000),
  coldDecisions: scale(500),
  startups: QUICK ? 5 : 20,
};

const LOAD_GENERATOR = join(BENCH_DIST, 'load-generator.js');
const DECISION_LATENCY = join(BENCH_DIST, 'decision-latency.js');
const RESULTS_DIR = join(REPO, 'bench', 'results');

/**
 * Docker Hub's names, pinned to loopback for the bench's dockerd alone: it resolves docker.io on every pull, and a
 * resolver that drops a query stalls that pull 5 s. Pulls go to the loopback mirror; nothing listens on 443.
 */
const DAEMON_HOSTS = Object.fromEntries(
  ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'auth.docker.io', 'production.cloudflare.docker.com'].map((name) => [name, '127.0.0.1']),
);

const PINNING = existsSync('/usr/bin/taskset') && cpus().length >= 2;
/** Plugin on core 0, load generator on core 1: "one core" means the plugin never gets a second one. */
const PLUGIN_CORE = PINNING ? 0 : undefined;
const GENERATOR_CORE = PINNING ? 1 : undefined;

/** The policy image-access fetches from a URL in the start-up runs: acme's, as the stand-in Hub serves it. */
const URL_POLICY = JSON.stringify({
  organization: HUB_ORG,
  restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: true },
});

/** An https server on 127.0.0.1 with a self-signed certificate (the CA bundle image-access is given). */
async function startPolicyServer(dir: string): Promise<{ server: Server; url: string; caBundle: string }> {
  const key = join(dir, 'policy-server-key.pem');
  const caBundle = join(dir, 'policy-server.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', caBundle,
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const server = createServer({ key: readFileSync(key), cert: readFileSync(caBundle) }, (_req, res) =>
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(URL_POLICY),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/acme.json`, caBundle };
}

/**
 * One round of API round trips through every configuration's dockerd: each call is measured in batches alternating
 * between the daemons, in a fresh order every cycle (`orders`), so all of them see the machine in the same state.
 */
async function measureRound(daemons: Partial<Record<Configuration, Daemon>>, orders: () => Configuration[]): Promise<Partial<Record<Configuration, ApiRound>>> {
  const configurations = orders();
  const measured = new Map<Configuration, Record<string, ApiRound[string]>>(configurations.map((c) => [c, {}]));
  const interleaved = async (call: (typeof API_CALLS)[number], count: number, concurrency: number, warmUp: number, batches = SIZES.batches) => {
    const series = new Map(configurations.map((c) => [c, new CallSeries(daemons[c]!.socket, call, concurrency)]));
    for (const c of configurations) await series.get(c)!.warmUp(warmUp);
    for (let batch = 0; batch < batches; batch++) for (const c of orders()) await series.get(c)!.batch(Math.ceil(count / batches));
    return new Map(configurations.map((c) => [c, series.get(c)!.finish()]));
  };
  for (const call of API_CALLS) {
    const pull = call.method === 'POST';
    const sequential = pull ? await interleaved(call, SIZES.pulls, 1, SIZES.warmUp, SIZES.pulls) : await interleaved(call, SIZES.apiCalls, 1, SIZES.warmUp);
    // Concurrent pulls of one image queue up behind each other in the daemon: sequential only.
    const concurrent = pull ? undefined : await interleaved(call, SIZES.apiCalls, SIZES.concurrency, 0);
    for (const c of configurations) measured.get(c)![call.label] = { sequential: sequential.get(c)!, ...(concurrent && { concurrent: concurrent.get(c)! }) };
  }
  return Object.fromEntries(measured);
}

/** From V8's --trace-gc lines `Mark-Compact 35.7 (67.0) -> 12.6 (65.0) MB`: the heap still live after each full GC. */
const liveHeapAfterFullGcs = (trace: string) => [...trace.matchAll(/Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+)/g)].map((match) => Number(match[1]));

/**
 * V8's memory reducer gives a burst's heap back 8 to 20 s after allocation slows down (and glibc its freed arenas'
 * tops): what a workload leaves resident is read once that has had its turn.
 */
const SETTLE_MS = 30_000;
async function residentMiB(pid: number): Promise<number> {
  await sleep(SETTLE_MS);
  return rssMiB(pid);
}

type Mix = 'mixed' | 'pulls' | 'bodies' | 'namespaces';

/**
 * Drives the plugin `pid` serving `socket`. Besides requests per wall-clock second it reports requests per CPU second
 * the plugin used: what one core of its own would sustain, whatever else shares the machine.
 */
async function load(dir: string, pid: number, socket: string, total: number, mix: Mix, onProgress?: (done: number) => void): Promise<LoadResult> {
  const cpuBefore = cpuSeconds(pid);
  const generator = pinnedTo(GENERATOR_CORE, {
    command: process.execPath,
    args: [LOAD_GENERATOR, socket, String(total), String(SIZES.connections), mix, String(Math.ceil(total / 10))],
    env: process.env,
    socket,
  });
  const lines = await runChild(generator.command, generator.args, {
    stderrPath: join(dir, 'load-generator.err'),
    onLine: (line) => line.startsWith('progress ') && onProgress?.(Number(line.slice(9))),
  });
  const result = lastJson<Omit<LoadResult, 'pluginCpuSeconds' | 'perCpuSecond'>>(lines);
  const pluginCpuSeconds = cpuSeconds(pid) - cpuBefore;
  return { ...result, pluginCpuSeconds, perCpuSecond: result.requests / pluginCpuSeconds };
}

function machine(): BenchResults['machine'] {
  const version = (command: string, args: string[]) => execFileSync(command, args, { encoding: 'utf8' }).trim();
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    dockerd: version('dockerd', ['--version']),
    kernel: version('uname', ['-r']),
    loadAverageAtStart: load1(),
    pinned: PINNING,
  };
}

/**
 * The managed plugin as every host of a fleet downloads it: built by plugin/build.sh from this tree (or the build in
 * IMAGE_ACCESS_BENCH_PLUGIN_DIR), `docker plugin create`d and `docker plugin push`ed to the loopback registry; the
 * size is the pushed blobs' (config + layers, compressed as docker sent them), from the registry's manifest.
 */
async function pushedPluginSize(dir: string, daemon: Daemon, registry: Registry): Promise<BenchResults['pluginSize']> {
  let build = process.env['IMAGE_ACCESS_BENCH_PLUGIN_DIR'];
  if (build === undefined) {
    build = join(dir, 'managed-plugin');
    execFileSync(join(REPO, 'plugin', 'build.sh'), [build], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const name = `${registry.address}/bench/image-access:bench`;
  for (const args of [['plugin', 'create', name, build], ['plugin', 'push', name], ['plugin', 'rm', name]]) {
    const result = await daemon.docker(args, { timeoutMs: 300_000 });
    if (result.code !== 0) throw new Error(`docker ${args.slice(0, 2).join(' ')} failed: ${result.stderr}`);
  }
  const reply = await fetch(`${registry.url}/v2/bench/image-access/manifests/bench`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  const { config, layers } = (await reply.json()) as { config: { size: number }; layers: Array<{ size: number }> };
  return { compressedBytes: config.size + layers.reduce((sum, layer) => sum + layer.size, 0), build };
}

async function main(): Promise<void> {
  const dir = makeTempDir();
  const stops: Array<() => Promise<void> | void> = [];
  const phases: Phase[] = [];
  const phase = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    process.stderr.write(`bench: ${name} (load ${load1().toFixed(2)})\n`);
    const loadBefore = load1();
    const started = process.hrtime.bigint();
    const result = await work();
    phases.push({ name, loadBefore, loadAfter: load1(), seconds: Number(process.hrtime.bigint() - started) / 1e9 });
    return result;
  };
  const plugins = availablePlugins();
  const results: Partial<Mutable<BenchResults>> = { machine: machine(), sizes: SIZES, quick: QUICK, date: new Date().toISOString(), plugins, phases };
  try {
    process.stderr.write(`bench: temp dir ${dir}; plugins: ${plugins.map((key) => PLUGIN_LABELS[key]).join(', ')}\n`);
    const hub = await startBenchHub();
    stops.push(() => hub.stop());
    const iaEnv = imageAccessEnv(dir, hub.url);
    const launch = launcher(dir, iaEnv);

    const registry = await startRegistry(dir);
    stops.push(() => registry.stop());
    await seedImages(registry, ['library/alpine:latest']);
    const daemonOptions = (authorizationPlugins: readonly string[]): DaemonOptions => ({ mirror: registry.address, hosts: DAEMON_HOSTS, authorizationPlugins });
    const startWith = async (configuration: Configuration, authorizationPlugins: readonly string[]): Promise<Daemon> => {
      const daemon = await startDaemon(join(dir, `daemon-${configuration}`), daemonOptions(authorizationPlugins));
      stops.push(() => daemon.stop());
      const pulled = await daemon.docker(['pull', 'alpine:latest']);
      if (pulled.code !== 0) throw new Error(`seeding pull failed: ${pulled.stderr}`);
      return daemon;
    };
    const daemons: Partial<Record<Configuration, Daemon>> = { none: await startWith('none', []) };
    // First, while dockerd enforces no plugin (which would refuse the upload), and a broken build shows early.
    results.pluginSize = await phase('managed plugin, built and pushed', () => pushedPluginSize(dir, daemons.none!, registry));

    // 1 and 2: every plugin serves for the whole of both phases, each in the chain of a dockerd of its own.
    const serving: Partial<Record<PluginKey, Serving>> = {};
    for (const key of plugins) {
      const plugin = await startServing(dir, `${key}-daemon`, launch(key, 'daemon'));
      const name = uniquePluginName(`ia-bench-${key.toLowerCase()}`);
      registerLegacyPlugin(name, plugin.socket);
      stops.push(() => (unregisterLegacyPlugin(name), plugin.stop()));
      serving[key] = plugin;
      daemons[key] = await startWith(key, [name]);
    }
    const configurations: Configuration[] = ['none', ...plugins];
    results.api = await phase('daemon rounds (API round trips through dockerd, interleaved)', async () => {
      const rounds: Array<Partial<Record<Configuration, ApiRound>>> = [];
      const orders = cycleOrders(configurations, ORDER_SEED);
      for (let round = 0; round < SIZES.daemonRounds; round++) {
        rounds.push(await measureRound(daemons, orders));
        process.stderr.write(`  round ${round + 1}/${SIZES.daemonRounds} (load ${load1().toFixed(2)})\n`);
      }
      return { rounds };
    });
    results.rssAfterDaemonMiB = Object.fromEntries(plugins.map((key) => [key, rssMiB(serving[key]!.process.pid)]));
    for (const daemon of Object.values(daemons)) await daemon.stop();
    results.pace = await phase('daemon pace (CPU per API call, one at a time)', async () => {
      const unlogged = await startServing(dir, 'image-access-unlogged', launcher(dir, { ...iaEnv, ...UNLOGGED })('imageAccess', 'unlogged'));
      stops.push(() => unlogged.stop());
      const run = await measureDaemonPace({ ...serving, imageAccessUnlogged: unlogged }, SIZES.paceCalls, SIZES.paceRounds);
      await unlogged.stop();
      return run;
    });
    process.stderr.write(`${paceTable(results.pace)}\n`);
    for (const key of plugins) await serving[key]!.stop();

    await phase('the plugin alone, pinned to one core', async () => {
      // --trace-gc: the live heap after each full collection tells a leak from V8 merely growing its heap (see report).
      const iaLaunch = pinnedTo(PLUGIN_CORE, withNodeFlag(launch('imageAccess', 'alone'), '--trace-gc'));
      const alone = await startServing(dir, 'image-access-alone', iaLaunch);
      stops.push(() => alone.stop());
      const pid = alone.process.pid;
      await load(dir, pid, alone.socket, SIZES.loadWarmUp, 'mixed');
      const rss: Array<{ requests: number; rssMiB: number }> = [{ requests: 0, rssMiB: rssMiB(pid) }];
      const mixed = await load(dir, pid, alone.socket, SIZES.loadTotal, 'mixed', (done) => rss.push({ requests: done, rssMiB: rssMiB(pid) }));
      process.stderr.write(`  mixed: ${mixed.perCpuSecond.toFixed(0)} per CPU second, RSS ${rss[0]!.rssMiB.toFixed(1)} -> ${rss[rss.length - 1]!.rssMiB.toFixed(1)} MiB\n`);
      const pulls = await load(dir, pid, alone.socket, SIZES.pullsTotal, 'pulls');
      // Each workload is judged by the memory it leaves resident against what was resident right before it; the peak
      // right after it is reported too.
      const beforeNamespacesMiB = await residentMiB(pid);
      const namespaces = await load(dir, pid, alone.socket, SIZES.namespaces, 'namespaces');
      const afterNamespacesPeakMiB = rssMiB(pid);
      const afterNamespacesMiB = await residentMiB(pid);
      const bodies = await load(dir, pid, alone.socket, SIZES.bodies, 'bodies');
      const afterBodiesPeakMiB = rssMiB(pid);
      const afterBodiesMiB = await residentMiB(pid);
      process.stderr.write(
        `  RSS resident ${beforeNamespacesMiB.toFixed(1)} MiB, after distinct namespaces ${afterNamespacesPeakMiB.toFixed(1)} -> ${afterNamespacesMiB.toFixed(1)}, ` +
          `after 1 MiB bodies ${afterBodiesPeakMiB.toFixed(1)} -> ${afterBodiesMiB.toFixed(1)}\n`,
      );
      await alone.stop();
      results.memory = {
        rss,
        liveHeapAfterFullGcMB: liveHeapAfterFullGcs(readFileSync(alone.process.stdoutPath, 'utf8')),
        beforeNamespacesMiB,
        afterNamespacesPeakMiB,
        afterNamespacesMiB,
        afterBodiesPeakMiB,
        afterBodiesMiB,
        bodies,
        namespaces,
      };
      const others: Partial<Record<PluginKey, LoadResult>> = {};
      for (const key of plugins.filter((key) => key !== 'imageAccess')) {
        const other = await startServing(dir, `${key}-alone`, pinnedTo(PLUGIN_CORE, launch(key, 'alone')));
        stops.push(() => other.stop());
        const total = key === 'minimal' ? SIZES.minimalTotal : SIZES.peerTotal;
        await load(dir, other.process.pid, other.socket, Math.ceil(total / 4), 'mixed');
        others[key] = await load(dir, other.process.pid, other.socket, total, 'mixed');
        await other.stop();
      }
      results.throughput = { mixed: { ...others, imageAccess: mixed }, imageAccessPulls: pulls, connections: SIZES.connections };
    });

    results.decisions = await phase('decision latency in process', async () => {
      const decisions = (mode: 'cached' | 'cold', iterations: number, env: NodeJS.ProcessEnv) =>
        runChild(process.execPath, [DECISION_LATENCY, mode, String(iterations)], { env, stderrPath: join(dir, `decision-latency-${mode}.err`) }).then(
          (lines) => lastJson<Record<string, Timed>>(lines),
        );
      // The embedded policy, nobody signed in (the demo); then the realistic settings, the org's policy from the Hub.
      const builtinEnv = { ...cleanEnv(), IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_DOCKER_CONFIG: join(dir, 'no-docker-config'), IMAGE_ACCESS_REGISTRY_JSON: '', IMAGE_ACCESS_DAEMON_JSON: '' };
      const builtin = await decisions('cached', SIZES.decisions, builtinEnv);
      const hubEnv = { ...iaEnv, IMAGE_ACCESS_AUDIT_LOG: '' };
      const hubCached = await decisions('cached', SIZES.decisions, hubEnv);
      const hubCold = await decisions('cold', SIZES.coldDecisions, hubEnv);
      return { builtin, hubCached, hubCold };
    });

    results.startup = await phase('start-up to the first answered Activate', async () => {
      const policyServer = await startPolicyServer(dir);
      stops.push(() => new Promise<void>((resolve) => policyServer.server.close(() => resolve())));
      const starts: Array<[StartKey, (id: string) => Launch]> = [
        ['minimal', (id) => launch('minimal', id)],
        ['imageAccessBuiltin', (id) => launcher(dir, { ...iaEnv, IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_STATE_DIR: join(dir, 'state', id) })('imageAccess', id)],
        ['imageAccessHub', (id) => launcher(dir, { ...iaEnv, IMAGE_ACCESS_STATE_DIR: join(dir, 'state', id) })('imageAccess', id)],
        [
          'imageAccessUrl',
          (id) => launcher(dir, { ...iaEnv, IMAGE_ACCESS_POLICY: policyServer.url, IMAGE_ACCESS_CA_BUNDLE: policyServer.caBundle, IMAGE_ACCESS_STATE_DIR: join(dir, 'state', id) })('imageAccess', id),
        ],
        ...plugins.filter((key): key is 'opa' | 'authzBroker' => key === 'opa' || key === 'authzBroker').map((key): [StartKey, (id: string) => Launch] => [key, (id) => launch(key, id)]),
      ];
      const ready = new Map<StartKey, number[]>(starts.map(([key]) => [key, []]));
      const orders = cycleOrders(starts, ORDER_SEED);
      for (let i = 0; i < SIZES.startups; i++) {
        for (const [key, launchOf] of orders()) {
          const id = `start-${key}-${i}`;
          const started = await startServing(dir, id, launchOf(id));
          ready.get(key)!.push(started.readyMs);
          await started.stop();
        }
      }
      return Object.fromEntries([...ready].map(([key, samples]) => [key, summarize(samples)])) as BenchResults['startup'];
    });

    writeReport(RESULTS_DIR, join(REPO, 'README.md'), results as BenchResults);
    process.stderr.write(`bench: wrote ${RESULTS_DIR}/RESULTS.md, results.json, chart.svg/png and README's results table\n`);
  } finally {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        process.stderr.write(`bench: cleanup: ${String(error)}\n`);
      }
    }
    removeTempDir(dir);
  }
}

/** A node flag before the script (config.json's own flags stay). */
function withNodeFlag(launch: Launch, flag: string): Launch {
  return { ...launch, args: [flag, ...launch.args] };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
