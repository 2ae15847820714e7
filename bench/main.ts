/**
 * `make bench`: what image-access costs every docker command, measured in one run on a real dockerd started here.
 * Writes bench/results/results.json, RESULTS.md and chart.png (see report.ts). BENCH_QUICK=1 runs a tenth of it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import {
  makeTempDir,
  registerLegacyPlugin,
  removeTempDir,
  seedImages,
  startDaemon,
  startRegistry,
  uniquePluginName,
  unregisterLegacyPlugin,
} from '../test/harness';
import { startStandInHub } from '../test/hub';
import { API_CALLS, measureCall, type Measured } from './api-client';
import { lastJson, runChild } from './children';
import type { Timed } from './decision-latency';
import { writeReport, type BenchResults, type LoadResult } from './report';
import { startServing as startPlugin } from './plugins';
import { summarize } from './stats';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const QUICK = process.env['BENCH_QUICK'] === '1';
const scale = (n: number) => (QUICK ? Math.ceil(n / 10) : n);
const SIZES = {
  apiCalls: scale(3000),
  pulls: scale(300),
  concurrentPulls: scale(100),
  concurrency: 8,
  warmUp: scale(200),
  loadWarmUp: scale(50_000),
  loadTotal: scale(1_000_000),
  pullsTotal: scale(200_000),
  minimalTotal: scale(200_000),
  connections: 32,
  decisions: scale(100_000),
  coldDecisions: scale(500),
  startups: 20,
};

/** Compiled to bench/dist/bench/: the repository is three levels up. */
const HERE = resolve(__dirname);
const REPO = resolve(HERE, '..', '..', '..');
const PLUGIN_CLI = join(REPO, 'dist', 'cli.js');
const MINIMAL_PLUGIN = join(HERE, 'minimal-plugin.js');
const LOAD_GENERATOR = join(HERE, 'load-generator.js');
const DECISION_LATENCY = join(HERE, 'decision-latency.js');
const RESULTS_DIR = join(REPO, 'bench', 'results');

const PINNING = existsSync('/usr/bin/taskset') && cpus().length >= 2;
/** Plugin on core 0, load generator on core 1: "one core" means the plugin never gets a second one. */
const pinned = (core: number, command: string, args: readonly string[]): [string, string[]] =>
  PINNING ? ['taskset', ['-c', String(core), command, ...args]] : [command, [...args]];

/** Starts a plugin process and returns it with the milliseconds from spawn to its first answered Activate. */
const startServing = (dir: string, name: string, command: string, args: readonly string[], socket: string, env: NodeJS.ProcessEnv = process.env) =>
  startPlugin(dir, name, { command, args, socket, env });

const imageAccessEnv = (dir: string, socket: string): NodeJS.ProcessEnv => ({
  ...process.env,
  IMAGE_ACCESS_SOCKET: socket,
  // Nobody is signed in on the bench host: an empty CLI config, whatever the machine's own holds.
  IMAGE_ACCESS_DOCKER_CONFIG: join(dir, 'no-docker-config'),
});

const HUB_MEMBER = { username: 'dev', password: 'bench-password' };

/** IMAGE_ACCESS_POLICY=hub against the stand-in Hub, the machine signed in (config.json) as a member of acme. */
function signedInHubEnv(dir: string, hubUrl: string): NodeJS.ProcessEnv {
  const config = join(dir, 'hub-sign-in');
  mkdirSync(config, { recursive: true });
  const auth = Buffer.from(`${HUB_MEMBER.username}:${HUB_MEMBER.password}`).toString('base64');
  writeFileSync(join(config, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth } } }));
  return { IMAGE_ACCESS_POLICY: 'hub', IMAGE_ACCESS_HUB_URL: hubUrl, IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_DOCKER_CONFIG: config };
}

async function measureApi(socket: string): Promise<BenchResults['api'][string]> {
  const result: BenchResults['api'][string] = {};
  for (const call of API_CALLS) {
    const pull = call.method === 'POST';
    const sequential: Measured = await measureCall(socket, call, pull ? SIZES.pulls : SIZES.apiCalls, 1, SIZES.warmUp);
    // Concurrent pulls of one image queue up behind each other in the daemon (a few per second): fewer of them.
    const concurrent: Measured = await measureCall(socket, call, pull ? SIZES.concurrentPulls : SIZES.apiCalls, SIZES.concurrency, 0);
    result[call.label] = { sequential, concurrent };
    process.stderr.write(`  ${call.label}: p50 ${sequential.latency.p50.toFixed(3)} ms, concurrent ${concurrent.perSecond.toFixed(0)}/s\n`);
  }
  return result;
}

/** From V8's --trace-gc lines `Mark-Compact 35.7 (67.0) -> 12.6 (65.0) MB`: the heap still live after each full GC. */
const liveHeapAfterFullGcs = (trace: string) => [...trace.matchAll(/Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+)/g)].map((match) => Number(match[1]));

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU seconds (user + system) the process has used so far, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Drives the plugin `pid` serving `socket`. Besides requests per wall-clock second it reports requests per CPU second
 * the plugin used: what one core of its own would sustain, whatever else shares the machine.
 */
async function load(dir: string, pid: number, socket: string, total: number, mix: 'mixed' | 'pulls', onProgress?: (done: number) => void): Promise<LoadResult> {
  const cpuBefore = cpuSeconds(pid);
  const [command, args] = pinned(1, process.execPath, [LOAD_GENERATOR, socket, String(total), String(SIZES.connections), mix, String(Math.ceil(total / 10))]);
  const lines = await runChild(command, args, {
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
    loadAverageAtStart: loadavg()[0] ?? NaN,
    pinned: PINNING,
  };
}

async function main(): Promise<void> {
  const dir = makeTempDir();
  const stops: Array<() => Promise<void> | void> = [];
  const results: Partial<Mutable<BenchResults>> = { machine: machine(), sizes: SIZES, quick: QUICK, date: new Date().toISOString() };
  try {
    process.stderr.write(`bench: temp dir ${dir}\n`);
    const registry = await startRegistry(dir);
    stops.push(() => registry.stop());
    await seedImages(registry, ['library/alpine:latest']);

    // (a) no plugin, (b) the minimal Node plugin, (c) image-access: one daemon, restarted on the same data root.
    const daemon = await startDaemon(dir, { mirror: registry.address });
    stops.push(() => daemon.stop());
    const pulled = await daemon.docker(['pull', 'alpine:latest']);
    if (pulled.code !== 0) throw new Error(`seeding pull failed: ${pulled.stderr}`);
    process.stderr.write('bench: API round trips, no plugin\n');
    const api: BenchResults['api'] = { none: await measureApi(daemon.socket) };

    const minimalName = uniquePluginName('ia-bench-minimal');
    const minimalSocket = join(dir, 'minimal.sock');
    const minimal = await startServing(dir, 'minimal-plugin', process.execPath, [MINIMAL_PLUGIN, minimalSocket], minimalSocket);
    registerLegacyPlugin(minimalName, minimalSocket);
    stops.push(() => (unregisterLegacyPlugin(minimalName), minimal.process.stop()));
    await daemon.restart({ mirror: registry.address, authorizationPlugins: [minimalName] });
    process.stderr.write('bench: API round trips, minimal Node plugin\n');
    api['minimal'] = await measureApi(daemon.socket);

    const pluginName = uniquePluginName('ia-bench');
    const pluginSocket = join(dir, 'image-access.sock');
    const plugin = await startServing(dir, 'image-access', process.execPath, [PLUGIN_CLI, 'run'], pluginSocket, imageAccessEnv(dir, pluginSocket));
    registerLegacyPlugin(pluginName, pluginSocket);
    stops.push(() => (unregisterLegacyPlugin(pluginName), plugin.process.stop()));
    await daemon.restart({ mirror: registry.address, authorizationPlugins: [pluginName] });
    process.stderr.write('bench: API round trips, image-access\n');
    api['imageAccess'] = await measureApi(daemon.socket);
    results.api = api;
    await daemon.stop();
    await plugin.process.stop();
    await minimal.process.stop();

    process.stderr.write('bench: the plugin alone, pinned to one core\n');
    const aloneSocket = join(dir, 'alone.sock');
    // --trace-gc: the live heap after each full collection tells a leak from V8 merely growing its heap (see report).
    const [command, args] = pinned(0, process.execPath, ['--trace-gc', PLUGIN_CLI, 'run']);
    const alone = await startServing(dir, 'image-access-alone', command, args, aloneSocket, imageAccessEnv(dir, aloneSocket));
    stops.push(() => alone.process.stop());
    await load(dir, alone.process.pid, aloneSocket, SIZES.loadWarmUp, 'mixed');
    const rss: Array<{ requests: number; rssMiB: number }> = [{ requests: 0, rssMiB: rssMiB(alone.process.pid) }];
    const mixed = await load(dir, alone.process.pid, aloneSocket, SIZES.loadTotal, 'mixed', (done) => rss.push({ requests: done, rssMiB: rssMiB(alone.process.pid) }));
    process.stderr.write(`  mixed: ${mixed.perSecond.toFixed(0)}/s (${mixed.perCpuSecond.toFixed(0)} per CPU second), RSS ${rss[0]!.rssMiB.toFixed(1)} -> ${rss[rss.length - 1]!.rssMiB.toFixed(1)} MiB\n`);
    const pulls = await load(dir, alone.process.pid, aloneSocket, SIZES.pullsTotal, 'pulls');
    process.stderr.write(`  pulls: ${pulls.perSecond.toFixed(0)}/s\n`);
    await alone.process.stop();

    const [minimalCommand, minimalArgs] = pinned(0, process.execPath, [MINIMAL_PLUGIN, aloneSocket]);
    const minimalAlone = await startServing(dir, 'minimal-alone', minimalCommand, minimalArgs, aloneSocket);
    stops.push(() => minimalAlone.process.stop());
    await load(dir, minimalAlone.process.pid, aloneSocket, SIZES.loadWarmUp, 'mixed');
    const minimalMixed = await load(dir, minimalAlone.process.pid, aloneSocket, SIZES.minimalTotal, 'mixed');
    await minimalAlone.process.stop();
    results.throughput = { imageAccessMixed: mixed, imageAccessPulls: pulls, minimalMixed, connections: SIZES.connections };
    results.memory = { rss, liveHeapAfterFullGcMB: liveHeapAfterFullGcs(readFileSync(alone.process.stdoutPath, 'utf8')) };

    process.stderr.write('bench: decision latency in process\n');
    const decisions = (mode: 'cached' | 'cold', iterations: number, env: NodeJS.ProcessEnv) =>
      runChild(process.execPath, [DECISION_LATENCY, mode, String(iterations)], { env, stderrPath: join(dir, `decision-latency-${mode}.err`) }).then(
        (lines) => lastJson<Record<string, Timed>>(lines),
      );
    const builtin = await decisions('cached', SIZES.decisions, imageAccessEnv(dir, join(dir, 'unused.sock')));
    const hub = await startStandInHub({
      users: [{ username: HUB_MEMBER.username, secrets: [HUB_MEMBER.password] }],
      orgs: [
        { orgname: 'acme', members: { [HUB_MEMBER.username]: 'Member' }, settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true } },
        { orgname: 'bitnami', badge: 'verified_publisher' },
      ],
    });
    stops.push(() => hub.stop());
    const hubEnv = { ...imageAccessEnv(dir, join(dir, 'unused.sock')), ...signedInHubEnv(dir, hub.url) };
    const hubCached = await decisions('cached', SIZES.decisions, hubEnv);
    const hubCold = await decisions('cold', SIZES.coldDecisions, hubEnv);
    await hub.stop();
    results.decisions = { builtin, hubCached, hubCold };

    process.stderr.write('bench: start-up to socket ready\n');
    const startups: number[] = [];
    const minimalStartups: number[] = [];
    for (let i = 0; i < SIZES.startups; i++) {
      const socket = join(dir, `startup-${i}.sock`);
      const started = await startServing(dir, 'startup', process.execPath, [PLUGIN_CLI, 'run'], socket, imageAccessEnv(dir, socket));
      startups.push(started.readyMs);
      await started.process.stop();
      const minimalSocketN = join(dir, `startup-minimal-${i}.sock`);
      const minimalStarted = await startServing(dir, 'startup-minimal', process.execPath, [MINIMAL_PLUGIN, minimalSocketN], minimalSocketN);
      minimalStartups.push(minimalStarted.readyMs);
      await minimalStarted.process.stop();
    }
    results.startup = { imageAccess: summarize(startups), minimal: summarize(minimalStartups) };

    writeReport(RESULTS_DIR, results as BenchResults);
    process.stderr.write(`bench: wrote ${RESULTS_DIR}/RESULTS.md and chart.png\n`);
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

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
