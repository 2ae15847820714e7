/**
 * CPU per decision at daemon pace: dockerd asks a plugin about one API call at a time on a keep-alive connection
 * (AuthZReq, wait for the reply, AuthZRes, wait, next call). A resident plugin's cost is its process CPU (user +
 * system, every thread, in ns from schedstat) divided by the calls, at this pace, not at saturation where batching
 * hides per-call work.
 *
 * Plugins are measured interleaved: every round runs each plugin in turn (in a fresh shuffled order), and the table
 * gives the median over rounds. image-access runs as config.json starts it, with the realistic settings (see
 * plugins.ts); the Go peers join when their binaries are given (IMAGE_ACCESS_BENCH_OPA...).
 *
 * Standalone: `make bench-pace` (builds, unpacks the Go peers from ../shared/peers when there), or after a build
 * (npx tsc -p tsconfig.json && npx tsc -p bench/tsconfig.json): node bench/dist/bench/daemon-pace.js
 * PACE_CALLS (default 3000) calls per kind per round, PACE_ROUNDS (default 3) rounds.
 * Prints a table (CPU µs per API call, pull and non-pull, and the ratio to the minimal plugin) and a JSON line.
 * image-access runs twice: as configured, and without the decision log line and the audit line (what they cost).
 *
 * Then pulls as dockerd spaces them: a cached pull through dockerd takes ~8 ms, so its plugin calls come that far
 * apart, and each finds the plugin's caches cold; back to back, the same call runs on warm ones. The round trip of
 * a pull's AuthZReq at that spacing is what dockerd waits for (SPACED_PULLS per plugin and round, interleaved call by
 * call in shuffled order, in every round).
 */
import { connect, type Socket } from 'node:net';
import { makeTempDir, removeTempDir, sleep } from '../test/harness';
import { DAEMON_CALLS } from './authz-requests';
import { cycleOrders, ORDER_SEED } from './interleave';
import { availablePlugins, imageAccessEnv, launcher, PLUGIN_LABELS, startBenchHub, startServing, type PluginKey, type Serving } from './plugins';
import { completeReplyLength, pluginPost } from './plugin-wire';
import { cpuSecondsFine, load1 } from './proc';
import { summarize } from './stats';

export type CallKind = keyof typeof DAEMON_CALLS;
/** The plugins, and image-access once more with neither the decision log line nor the audit line, to show their cost. */
export type PaceKey = PluginKey | 'imageAccessUnlogged';
export const PACE_LABELS: Readonly<Record<PaceKey, string>> = { ...PLUGIN_LABELS, imageAccessUnlogged: 'image-access, no decision log line or audit line' };
/** image-access's settings for imageAccessUnlogged: warn hides the info-level decision line. */
export const UNLOGGED: Readonly<Record<string, string>> = { IMAGE_ACCESS_LOG_LEVEL: 'warn', IMAGE_ACCESS_AUDIT_LOG: '' };
const KINDS = Object.keys(DAEMON_CALLS) as CallKind[];

export interface PaceResult {
  /** Per kind: plugin CPU µs per API call (AuthZReq + AuthZRes), median over rounds, and each round's value. */
  readonly cpuUsPerCall: Record<CallKind, { median: number; rounds: number[] }>;
  /** Per kind: median round trip of one API call's two plugin requests, µs, median over rounds. */
  readonly wallUsPerCall: Record<CallKind, number>;
  /** Median round trip of a pull's AuthZReq with pulls SPACING_MS apart, µs, median over rounds. */
  readonly spacedPullUs: number;
}

export interface PaceRun {
  readonly callsPerRound: number;
  readonly rounds: number;
  readonly loadBefore: number;
  readonly loadAfter: number;
  readonly plugins: Partial<Record<PaceKey, PaceResult>>;
}

/** One keep-alive connection, dockerd-style: each request sent once the previous reply is complete. */
class PaceClient {
  private pending: Buffer = Buffer.alloc(0);
  private waiting: ((reply: Buffer) => void) | undefined;
  private failure: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      const length = completeReplyLength(this.pending);
      if (length === 0) return;
      const reply = this.pending.subarray(0, length);
      this.pending = this.pending.subarray(length);
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(reply);
    });
    socket.on('error', (error) => (this.failure = error));
    socket.on('close', () => (this.failure ??= new Error('plugin closed the connection')));
  }

  static open(path: string): Promise<PaceClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => resolve(new PaceClient(socket)));
      socket.once('error', reject);
    });
  }

  send(request: Buffer): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

const FRAMED = Object.fromEntries(
  KINDS.map((kind) => [kind, [pluginPost('/AuthZPlugin.AuthZReq', DAEMON_CALLS[kind][0]), pluginPost('/AuthZPlugin.AuthZRes', DAEMON_CALLS[kind][1])]]),
) as Record<CallKind, [Buffer, Buffer]>;

/** Every plugin here allows these calls; anything else means the bench measured the wrong path. */
function checkAllowed(reply: Buffer, kind: CallKind, plugin: PaceKey): void {
  const text = reply.toString('latin1');
  if (!text.startsWith('HTTP/1.1 200') || !/"allow"\s*:\s*true/i.test(text)) throw new Error(`${PACE_LABELS[plugin]} did not allow the ${kind} call: ${text.slice(0, 400)}`);
}

/** `calls` API calls of one kind; returns the plugin's CPU µs per call and the median wall µs per call. */
async function paceRound(client: PaceClient, pid: number, kind: CallKind, calls: number, plugin: PaceKey): Promise<{ cpuUs: number; wallUs: number }> {
  const [authzReq, authzRes] = FRAMED[kind];
  const wall = new Float64Array(calls);
  const cpuBefore = cpuSecondsFine(pid);
  for (let i = 0; i < calls; i++) {
    const start = process.hrtime.bigint();
    checkAllowed(await client.send(authzReq), kind, plugin);
    checkAllowed(await client.send(authzRes), kind, plugin);
    wall[i] = Number(process.hrtime.bigint() - start) / 1e3;
  }
  return { cpuUs: ((cpuSecondsFine(pid) - cpuBefore) * 1e6) / calls, wallUs: summarize(wall).p50 };
}

const median = (values: readonly number[]) => summarize(values).p50;

/** How far apart dockerd sends a cached pull's plugin calls (the pull through the registry mirror, ~8 ms). */
const SPACING_MS = 8;
/** Pulls per plugin and round at that spacing: 200 take each plugin 1.6 s. */
const SPACED_PULLS = 200;

/**
 * SPACED_PULLS pulls per plugin, SPACING_MS apart, alternating between the plugins in a fresh order every cycle
 * (`orders`): each one's AuthZReq round trip p50, µs.
 */
async function spacedRound(clients: ReadonlyMap<PaceKey, PaceClient>, orders: () => PaceKey[]): Promise<Map<PaceKey, number>> {
  const [authzReq, authzRes] = FRAMED.pull;
  const wall = new Map([...clients.keys()].map((key) => [key, new Float64Array(SPACED_PULLS)]));
  for (let i = 0; i < SPACED_PULLS; i++) {
    for (const key of orders()) {
      const client = clients.get(key)!;
      const start = process.hrtime.bigint();
      checkAllowed(await client.send(authzReq), 'pull', key);
      wall.get(key)![i] = Number(process.hrtime.bigint() - start) / 1e3;
      checkAllowed(await client.send(authzRes), 'pull', key);
      await sleep(SPACING_MS);
    }
  }
  return new Map([...wall].map(([key, samples]) => [key, summarize(samples).p50]));
}

/**
 * Measures every plugin in `serving` at daemon pace: a warm-up of `calls` per kind, then `rounds` interleaved rounds
 * of `calls` per kind. `onProgress` hears about each finished round.
 */
export async function measureDaemonPace(serving: Partial<Record<PaceKey, Serving>>, calls: number, rounds: number, onProgress?: (text: string) => void): Promise<PaceRun> {
  const loadBefore = load1();
  const keys = Object.keys(serving) as PaceKey[];
  const clients = new Map<PaceKey, PaceClient>();
  try {
    // Each connection opens as its warm-up starts, as dockerd opens one to send: image-access answers a connection that
    // sends nothing for 10 s (its headers timeout) with 408, and the others' warm-ups take longer than that.
    for (const key of keys) {
      clients.set(key, await PaceClient.open(serving[key]!.socket));
      for (const kind of KINDS) await paceRound(clients.get(key)!, serving[key]!.process.pid, kind, calls, key);
    }
    const samples = new Map<PaceKey, Record<CallKind, { cpu: number[]; wall: number[] }>>(
      keys.map((key) => [key, Object.fromEntries(KINDS.map((kind) => [kind, { cpu: [], wall: [] }])) as unknown as Record<CallKind, { cpu: number[]; wall: number[] }>]),
    );
    const spaced = new Map<PaceKey, number[]>(keys.map((key) => [key, []]));
    const orders = cycleOrders(keys, ORDER_SEED);
    for (let round = 0; round < rounds; round++) {
      for (const key of orders()) {
        for (const kind of KINDS) {
          const { cpuUs, wallUs } = await paceRound(clients.get(key)!, serving[key]!.process.pid, kind, calls, key);
          samples.get(key)![kind].cpu.push(cpuUs);
          samples.get(key)![kind].wall.push(wallUs);
        }
      }
      for (const [key, us] of await spacedRound(clients, orders)) spaced.get(key)!.push(us);
      onProgress?.(`round ${round + 1}/${rounds} done (load ${load1().toFixed(2)})`);
    }
    const plugins = Object.fromEntries(
      keys.map((key) => {
        const perKind = samples.get(key)!;
        const result: PaceResult = {
          cpuUsPerCall: Object.fromEntries(KINDS.map((kind) => [kind, { median: median(perKind[kind].cpu), rounds: perKind[kind].cpu }])) as PaceResult['cpuUsPerCall'],
          wallUsPerCall: Object.fromEntries(KINDS.map((kind) => [kind, median(perKind[kind].wall)])) as PaceResult['wallUsPerCall'],
          spacedPullUs: median(spaced.get(key)!),
        };
        return [key, result];
      }),
    );
    return { callsPerRound: calls, rounds, loadBefore, loadAfter: load1(), plugins };
  } finally {
    for (const client of clients.values()) client.close();
  }
}

export function paceTable(run: PaceRun): string {
  const minimal = run.plugins.minimal?.cpuUsPerCall;
  const ratio = (key: PaceKey, kind: CallKind) => (minimal ? (run.plugins[key]!.cpuUsPerCall[kind].median / minimal[kind].median).toFixed(2) : 'n/a');
  const rows = (Object.keys(run.plugins) as PaceKey[]).map((key) => {
    const r = run.plugins[key]!;
    return `| ${PACE_LABELS[key]} | ${KINDS.map((kind) => `${r.cpuUsPerCall[kind].median.toFixed(1)} | ${ratio(key, kind)}`).join(' | ')} | ${KINDS.map((kind) => r.wallUsPerCall[kind].toFixed(0)).join(' / ')} | ${r.spacedPullUs.toFixed(0)} |`;
  });
  return [
    `CPU per API call at daemon pace (AuthZReq + AuthZRes, one at a time on one keep-alive connection), plugin process CPU (all threads, user + system) / calls, µs; median of ${run.rounds} interleaved rounds of ${run.callsPerRound} calls; load ${run.loadBefore.toFixed(2)} -> ${run.loadAfter.toFixed(2)}. ` +
      `Last column: a pull's AuthZReq round trip with pulls ${SPACING_MS} ms apart as dockerd sends them (caches cold), p50 of ${SPACED_PULLS} per round alternating between the plugins in shuffled order, median over rounds`,
    '',
    `| plugin | pull CPU µs | pull vs minimal | non-pull CPU µs | non-pull vs minimal | round trip µs pull / non-pull (p50) | pull AuthZReq round trip µs, ${SPACING_MS} ms apart (p50) |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

async function standalone(): Promise<void> {
  const calls = Number(process.env['PACE_CALLS'] ?? 3000);
  const rounds = Number(process.env['PACE_ROUNDS'] ?? 3);
  const dir = makeTempDir();
  const started: Serving[] = [];
  const hub = await startBenchHub();
  try {
    const iaEnv = imageAccessEnv(dir, hub.url);
    const launch = launcher(dir, iaEnv);
    const serving: Partial<Record<PaceKey, Serving>> = {};
    for (const key of availablePlugins()) {
      const plugin = await startServing(dir, key, launch(key, 'pace'));
      started.push(plugin);
      serving[key] = plugin;
    }
    const unlogged = await startServing(dir, 'unlogged', launcher(dir, { ...iaEnv, ...UNLOGGED })('imageAccess', 'unlogged'));
    started.push(unlogged);
    serving.imageAccessUnlogged = unlogged;
    const run = await measureDaemonPace(serving, calls, rounds, (text) => process.stderr.write(`daemon pace: ${text}\n`));
    process.stdout.write(`${paceTable(run)}\n\n${JSON.stringify(run)}\n`);
  } finally {
    for (const plugin of started) await plugin.stop();
    await hub.stop();
    removeTempDir(dir);
  }
}

if (require.main === module) {
  standalone().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`daemon-pace failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
