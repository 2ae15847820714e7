/**
 * Turns one bench run into results.json, RESULTS.md (every target of issue 15 met or not, with its ratio, and every
 * number), chart.svg/png, and README's results table (between its bench-results markers).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_CALLS, type Measured } from './api-client';
import { paceTable, type CallKind, type PaceRun } from './daemon-pace';
import type { Timed } from './decision-latency';
import { PLUGIN_LABELS, type PluginKey } from './plugins';
import { meanAndError, summarize, type Summary } from './stats';

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly errors: number;
  /** CPU (user + system) the plugin process used for these requests. */
  readonly pluginCpuSeconds: number;
  /** requests / pluginCpuSeconds: what one whole core would sustain. */
  readonly perCpuSecond: number;
}

/** Per policy source, per request kind (`pullAllowed`, `pullDenied`, `passthrough`). */
export interface DecisionLatency {
  /** The embedded policy: nothing to fetch. */
  readonly builtin: Record<string, Timed>;
  /** The organisation's policy from the (stand-in) Hub, a signed-in member, everything cached after the first. */
  readonly hubCached: Record<string, Timed>;
  /** A fresh plugin core per decision: sign-in, organisation, policy and badge fetched from the stand-in Hub. */
  readonly hubCold: Record<string, Timed>;
}

/** What dockerd runs with in a daemon round: no plugin, or one of them. */
export type Configuration = 'none' | PluginKey;
/** One configuration's API round trips in one round, by call label. */
export type ApiRound = Readonly<Record<string, { readonly sequential: Measured; readonly concurrent?: Measured }>>;
export type StartKey = 'minimal' | 'imageAccessBuiltin' | 'imageAccessHub' | 'imageAccessUrl' | 'opa' | 'authzBroker';

export interface Phase {
  readonly name: string;
  readonly seconds: number;
  /** The machine's 1-minute load average before and after. */
  readonly loadBefore: number;
  readonly loadAfter: number;
}

export interface BenchResults {
  readonly date: string;
  readonly quick: boolean;
  readonly machine: {
    readonly nproc: number;
    readonly cpu: string;
    readonly node: string;
    readonly dockerd: string;
    readonly kernel: string;
    readonly loadAverageAtStart: number;
    readonly pinned: boolean;
  };
  readonly sizes: Readonly<Record<string, number>>;
  /** The plugins of this run (the Go peers only when their binaries were given). */
  readonly plugins: readonly PluginKey[];
  readonly phases: readonly Phase[];
  readonly api: { readonly rounds: ReadonlyArray<Partial<Record<Configuration, ApiRound>>> };
  readonly rssAfterDaemonMiB: Partial<Record<PluginKey, number>>;
  readonly pace: PaceRun;
  readonly throughput: { readonly mixed: Partial<Record<PluginKey, LoadResult>>; readonly imageAccessPulls: LoadResult; readonly connections: number };
  readonly memory: {
    /** RSS sampled every tenth of the mixed run, after a warm-up. */
    readonly rss: ReadonlyArray<{ requests: number; rssMiB: number }>;
    /** The plugin's heap still in use after each full (mark-compact) GC, over the whole plugin-alone session. */
    readonly liveHeapAfterFullGcMB: readonly number[];
    /**
     * Resident (read 30 s after the load stopped) after the mixed and pulls-only runs, then after each workload in turn
     * (namespaces, then bodies); the peaks are read right as each workload ends.
     */
    readonly beforeNamespacesMiB: number;
    readonly afterNamespacesPeakMiB: number;
    readonly afterNamespacesMiB: number;
    readonly afterBodiesPeakMiB: number;
    readonly afterBodiesMiB: number;
    readonly bodies: LoadResult;
    readonly namespaces: LoadResult;
  };
  readonly decisions: DecisionLatency;
  readonly startup: Partial<Record<StartKey, Summary>>;
  /** The managed plugin as `docker plugin push` sent it (config + layers). */
  readonly pluginSize: { readonly compressedBytes: number; readonly build: string };
}

/** Issue 15's bounds, relative to the minimal Node plugin unless said otherwise. */
const TARGETS = { addedLatency: 1.1, rss: 1.2, rssFlat: 0.1, startup: 1.5, cpu: 1.5, pluginMB: 34, perCpuSecond: 10_000, cachedPullP99Ms: 1 };

const ms = (value: number) => (Math.abs(value) < 1 ? value.toFixed(3) : value.toFixed(2));
/** An addition, signed: +0.35, or -3.28 when the call was faster than without the plugin (noise). */
const signed = (value: number) => (value >= 0 ? `+${ms(value)}` : ms(value));
const rate = (value: number) => Math.round(value).toLocaleString('en-US');
const x = (value: number) => `${value.toFixed(2)}x`;
const median = (values: readonly number[]) => summarize(values).p50;
const verdict = (met: boolean | undefined) => (met === undefined ? 'n/a' : met ? '**met**' : '**not met**');
const START_LABELS: Readonly<Record<StartKey, string>> = {
  minimal: PLUGIN_LABELS.minimal,
  imageAccessBuiltin: 'image-access, embedded policy',
  imageAccessHub: 'image-access, Hub policy (stand-in Hub)',
  imageAccessUrl: 'image-access, https URL policy',
  opa: PLUGIN_LABELS.opa,
  authzBroker: PLUGIN_LABELS.authzBroker,
};
const CALLS = API_CALLS.map((call) => call.label);
const PEERS = ['opa', 'authzBroker'] as const;

/** The daemon rounds, reduced: per configuration and call, medians over rounds. */
class DaemonRounds {
  constructor(private readonly results: BenchResults) {}

  private perRound(configuration: Configuration, call: string, pick: (round: ApiRound[string]) => number): number[] {
    return this.results.api.rounds.map((round) => pick(round[configuration]![call]!));
  }

  /** Median over rounds of the sequential p50 (or p99). */
  latency(configuration: Configuration, call: string, tail: 'p50' | 'p99' = 'p50'): number {
    return median(this.perRound(configuration, call, (measured) => measured.sequential.latency[tail]));
  }

  /** What the plugin adds to the call, per round (against no plugin in the same round). */
  addedPerRound(key: PluginKey, call: string): number[] {
    const none = this.perRound('none', call, (m) => m.sequential.latency.p50);
    return this.perRound(key, call, (m) => m.sequential.latency.p50).map((p50, round) => p50 - none[round]!);
  }

  added(key: PluginKey, call: string): number {
    return median(this.addedPerRound(key, call));
  }

  /**
   * Per round, image-access's p50 minus the minimal plugin's, averaged: a pull's p50 moves by a tenth of a millisecond
   * from round to round, as much as the 1.1x bound leaves, and the standard error says how far one run can be trusted.
   */
  gapToMinimal(call: string): { mean: number; standardError: number } | undefined {
    const minimal = this.addedPerRound('minimal', call);
    return meanAndError(this.addedPerRound('imageAccess', call).map((added, round) => added - minimal[round]!));
  }

  concurrent(configuration: Configuration, call: string): { p50: number; perSecond: number } | undefined {
    const rounds = this.results.api.rounds.map((round) => round[configuration]![call]!.concurrent);
    if (rounds.some((measured) => measured === undefined)) return undefined;
    return { p50: median(rounds.map((m) => m!.latency.p50)), perSecond: median(rounds.map((m) => m!.perSecond)) };
  }

  /** The Go peer adding least to the call. */
  bestPeer(call: string): { key: PluginKey; added: number } | undefined {
    const peers = PEERS.filter((key) => this.results.plugins.includes(key)).map((key) => ({ key, added: this.added(key, call) }));
    return peers.sort((a, b) => a.added - b.added)[0];
  }
}

export interface TargetRow {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

/**
 * Flat: over the second half of the run RSS stays within 10% of its value at the midpoint. A leak keeps climbing to
 * the end; V8 lazily growing its old space until a full GC levels off, and the live heap after full GCs shows which.
 */
function memoryGrowth(rss: BenchResults['memory']['rss']): { midpoint: number; highest: number; end: number; growth: number } {
  const secondHalf = rss.slice(Math.floor(rss.length / 2));
  const midpoint = secondHalf[0]!.rssMiB;
  const highest = Math.max(...secondHalf.map((sample) => sample.rssMiB));
  return { midpoint, highest, end: rss[rss.length - 1]!.rssMiB, growth: (highest - midpoint) / midpoint };
}

const REQUEST_KINDS: Readonly<Record<string, string>> = {
  pullAllowed: 'pull, allowed (official image)',
  pullDenied: 'pull, denied (community image)',
  passthrough: 'not a pull (HEAD /_ping)',
};
const SOURCES: ReadonlyArray<[keyof DecisionLatency, string]> = [
  ['builtin', 'builtin (embedded policy), cached'],
  ['hubCached', 'organisation policy from the stand-in Hub, signed in, cached'],
  ['hubCold', 'stand-in Hub, cold: everything fetched'],
];

function decisionRows(decisions: DecisionLatency): Array<[string, string, Timed]> {
  return SOURCES.flatMap(([key, source]) =>
    Object.entries(decisions[key]).map(([kind, timed]): [string, string, Timed] => [source, REQUEST_KINDS[kind] ?? kind, timed]),
  );
}

const PACE_KINDS: ReadonlyArray<[CallKind, string]> = [
  ['pull', 'a pull'],
  ['nonPull', 'a non-pull call (docker ps)'],
];

/** Every target of issue 15, met or not (undefined: not measurable in this run), with what was measured. */
export function targets(results: BenchResults): TargetRow[] {
  const daemon = new DaemonRounds(results);
  const rounds = results.api.rounds.length;
  const latency = CALLS.map((call): TargetRow => {
    const ia = daemon.added('imageAccess', call);
    const minimal = daemon.added('minimal', call);
    const ratio = ia / minimal;
    const peer = daemon.bestPeer(call);
    const peerText = peer ? `; best Go peer (${PLUGIN_LABELS[peer.key]}) ${signed(peer.added)} ms` : '; no Go peer in this run';
    const gap = daemon.gapToMinimal(call);
    const gapText = gap ? `; per round, image-access minus the minimal plugin ${signed(gap.mean)} ms on average (standard error ${ms(gap.standardError)})` : '';
    return {
      target: `added latency, ${call}: <= ${TARGETS.addedLatency}x the minimal plugin's and <= the best Go peer's (sequential p50, median of ${rounds} interleaved rounds)`,
      measured: `${signed(ia)} ms vs minimal ${signed(minimal)} ms: ${minimal > 0 ? x(ratio) : 'n/a'}${peerText}${gapText}`,
      met: minimal > 0 ? ratio <= TARGETS.addedLatency && (peer === undefined || ia <= peer.added) : undefined,
    };
  });
  const rssIa = results.rssAfterDaemonMiB.imageAccess!;
  const rssMinimal = results.rssAfterDaemonMiB.minimal!;
  const memory = memoryGrowth(results.memory.rss);
  const m = results.memory;
  const afterWorkload = (what: string, before: number, peak: number, after: number): TargetRow => ({
    target: `RSS flat (within ${TARGETS.rssFlat * 100}%) after ${what}`,
    measured: `resident ${before.toFixed(1)} -> ${after.toFixed(1)} MiB (${x(after / before)}); ${peak.toFixed(1)} MiB as it ended`,
    met: after <= before * (1 + TARGETS.rssFlat),
  });
  const minimalStart = results.startup.minimal!.p50;
  const startups = (['imageAccessBuiltin', 'imageAccessHub', 'imageAccessUrl'] as const).map((key): TargetRow => {
    const p50 = results.startup[key]!.p50;
    return {
      target: `start-up to the first answered Activate, ${START_LABELS[key]}: p50 <= ${TARGETS.startup}x the minimal plugin's`,
      measured: `${ms(p50)} ms vs ${ms(minimalStart)} ms: ${x(p50 / minimalStart)}`,
      met: p50 <= minimalStart * TARGETS.startup,
    };
  });
  const pace = results.pace.plugins;
  const cpu = PACE_KINDS.map(([kind, label]): TargetRow => {
    const ia = pace.imageAccess!.cpuUsPerCall[kind].median;
    const minimal = pace.minimal!.cpuUsPerCall[kind].median;
    return {
      target: `CPU per API call at daemon pace, ${label}: <= ${TARGETS.cpu}x the minimal plugin's`,
      measured: `${ia.toFixed(1)} µs vs ${minimal.toFixed(1)} µs: ${x(ia / minimal)}`,
      met: ia <= minimal * TARGETS.cpu,
    };
  });
  const cachedPulls = decisionRows(results.decisions).filter(([source, request]) => !source.includes('cold') && request.includes('pull,'));
  const cachedPullP99 = Math.max(...cachedPulls.map(([, , t]) => t.wall.p99));
  const mixed = results.throughput.mixed.imageAccess!;
  const size = results.pluginSize;
  return [
    ...latency,
    {
      target: `RSS after the daemon rounds <= ${TARGETS.rss}x the minimal plugin's`,
      measured: `${rssIa.toFixed(1)} MiB vs ${rssMinimal.toFixed(1)} MiB: ${x(rssIa / rssMinimal)}`,
      met: rssIa <= rssMinimal * TARGETS.rss,
    },
    {
      target: `RSS flat (within ${TARGETS.rssFlat * 100}%) over ${rate(m.rss[m.rss.length - 1]!.requests)} requests`,
      measured: `${memory.midpoint.toFixed(1)} MiB at mid-run, at most ${memory.highest.toFixed(1)} in the second half (+${(memory.growth * 100).toFixed(1)}%)`,
      met: memory.growth <= TARGETS.rssFlat,
    },
    afterWorkload(`${rate(m.namespaces.requests)} pulls of distinct namespaces`, m.beforeNamespacesMiB, m.afterNamespacesPeakMiB, m.afterNamespacesMiB),
    afterWorkload(`${rate(m.bodies.requests)} requests with 1 MiB bodies (next)`, m.afterNamespacesMiB, m.afterBodiesPeakMiB, m.afterBodiesMiB),
    ...startups,
    ...cpu,
    {
      target: `>= ${rate(TARGETS.perCpuSecond)} AuthZReq per CPU second (mixed requests, the plugin alone)`,
      measured: `${rate(mixed.perCpuSecond)} (minimal plugin ${rate(results.throughput.mixed.minimal!.perCpuSecond)})`,
      met: mixed.perCpuSecond >= TARGETS.perCpuSecond,
    },
    {
      target: `cached pull decision p99 < ${TARGETS.cachedPullP99Ms} ms in process`,
      measured: `worst wall p99 ${ms(cachedPullP99)} ms`,
      met: cachedPullP99 < TARGETS.cachedPullP99Ms,
    },
    {
      target: `managed plugin pushed <= ${TARGETS.pluginMB} MB compressed`,
      measured: `${(size.compressedBytes / 1e6).toFixed(1)} MB (the blobs docker plugin push sent)`,
      met: size.compressedBytes <= TARGETS.pluginMB * 1e6,
    },
  ];
}

/** What the decision log line and the audit line cost a pull: image-access with them, less without them. */
function loggingShare(pace: PaceRun): string[] {
  const logged = pace.plugins.imageAccess?.cpuUsPerCall.pull.median;
  const unlogged = pace.plugins.imageAccessUnlogged?.cpuUsPerCall.pull.median;
  if (logged === undefined || unlogged === undefined) return [];
  const share = (logged - unlogged) / logged;
  return [`The decision log line and the audit line: ${(logged - unlogged).toFixed(1)} µs of image-access's ${logged.toFixed(1)} µs per pull (${(share * 100).toFixed(0)}%).`, ''];
}

function targetTable(results: BenchResults): string[] {
  return ['| target | measured | |', '| --- | --- | --- |', ...targets(results).map((row) => `| ${row.target} | ${row.measured} | ${verdict(row.met)} |`)];
}

/** One line per measure, one column per configuration: the table README shows. */
function summaryTable(results: BenchResults): string[] {
  const daemon = new DaemonRounds(results);
  const keys = results.plugins;
  const cell = (value: number | undefined, format: (v: number) => string) => (value === undefined || Number.isNaN(value) ? '-' : format(value));
  const row = (label: string, none: string, value: (key: PluginKey) => string) => `| ${label} | ${none} | ${keys.map(value).join(' | ')} |`;
  const startup = (key: PluginKey) =>
    key === 'imageAccess'
      ? (['imageAccessBuiltin', 'imageAccessHub', 'imageAccessUrl'] as const).map((k) => cell(results.startup[k]?.p50, ms)).join(' / ')
      : cell(results.startup[key as StartKey]?.p50, ms);
  return [
    `| | no plugin | ${keys.map((key) => PLUGIN_LABELS[key]).join(' | ')} |`,
    `| --- | --- | ${keys.map(() => '---').join(' | ')} |`,
    ...CALLS.map((call) => row(`${call}: added ms (sequential p50)`, `${ms(daemon.latency('none', call))} (the call)`, (key) => signed(daemon.added(key, call)))),
    row('RSS after the daemon rounds, MiB', '-', (key) => cell(results.rssAfterDaemonMiB[key], (v) => v.toFixed(1))),
    ...PACE_KINDS.map(([kind, label]) => row(`CPU per API call at daemon pace, ${label}, µs`, '-', (key) => cell(results.pace.plugins[key]?.cpuUsPerCall[kind].median, (v) => v.toFixed(1)))),
    row('start to first answered Activate p50, ms (image-access: embedded / Hub / URL policy)', '-', startup),
    row('plugin alone, mixed AuthZReq per CPU second', '-', (key) => cell(results.throughput.mixed[key]?.perCpuSecond, rate)),
  ];
}

function machineLine(results: BenchResults): string {
  const m = results.machine;
  const loads = results.phases.map((p) => p.loadAfter);
  return (
    `Run ${results.date}${results.quick ? ' (BENCH_QUICK: a tenth of the usual counts, so not a result)' : ''}: ${m.nproc} × ${m.cpu}, Linux ${m.kernel}, Node ${m.node}, ${m.dockerd}; ` +
    `load average ${m.loadAverageAtStart.toFixed(2)} at start, ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} after the phases.`
  );
}

export function markdown(results: BenchResults): string {
  const m = results.machine;
  const daemon = new DaemonRounds(results);
  const configurations: Configuration[] = ['none', ...results.plugins];
  const label = (c: Configuration) => (c === 'none' ? 'no plugin' : PLUGIN_LABELS[c]);
  const t = results.throughput;
  const memory = results.memory;
  const liveHeap = memory.liveHeapAfterFullGcMB.map((mb) => mb.toFixed(1)).join(', ');
  const s = results.sizes;
  const lines = [
    '# image-access benchmark',
    '',
    `${machineLine(results)} A shared machine: other work may have run, so wall-clock numbers carry noise; CPU time, RSS and counts barely move with it.` +
      `${m.pinned ? ' Plugin-alone runs: plugin pinned to core 0, load generator to core 1 (`taskset`).' : ''}`,
    '',
    '## Targets (issue 15)',
    '',
    ...targetTable(results),
    '',
    '## Side by side',
    '',
    ...summaryTable(results),
    '',
    '## Phases and the machine\'s load',
    '',
    '| phase | seconds | load before | load after |',
    '| --- | --- | --- | --- |',
    ...results.phases.map((p) => `| ${p.name} | ${p.seconds.toFixed(0)} | ${p.loadBefore.toFixed(2)} | ${p.loadAfter.toFixed(2)} |`),
    '',
    '## API round trips through dockerd',
    '',
    `One dockerd per configuration, all running; ${results.api.rounds.length} rounds, in each of which every call is measured in ${s['batches']} batches alternating between the daemons ` +
      `(pulls call by call; a fresh shuffled order every cycle): after ${s['warmUp']} unrecorded calls, ${s['apiCalls']} sequential calls (${s['pulls']} pulls of the present image alpine:latest, a logged-out CLI's) ` +
      `and ${s['apiCalls']} with ${s['concurrency']} in flight, per configuration and round. ` +
      "dockerd resolves docker.io from a private /etc/hosts (loopback), so the machine's resolver cannot stall a pull. " +
      'image-access runs with organisation acme (policy from the stand-in Hub, sign-in enforced) and the machine signed in as a member. ' +
      'Added = the configuration\'s p50 minus no plugin\'s p50 in the same round; the table gives medians over rounds, ms.',
    '',
    '| call | configuration | p50 | p99 | added p50 | added p50 per round |',
    '| --- | --- | --- | --- | --- | --- |',
    ...CALLS.flatMap((call) =>
      configurations.map((c) => {
        const added = c === 'none' ? '' : signed(daemon.added(c, call));
        const perRound = c === 'none' ? '' : daemon.addedPerRound(c, call).map(ms).join(', ');
        return `| ${call} | ${label(c)} | ${ms(daemon.latency(c, call))} | ${ms(daemon.latency(c, call, 'p99'))} | ${added} | ${perRound} |`;
      }),
    ),
    '',
    `With ${s['concurrency']} calls in flight (medians over rounds):`,
    '',
    `| call | ${configurations.map(label).join(' | ')} |`,
    `| --- | ${configurations.map(() => '---').join(' | ')} |`,
    ...CALLS.filter((call) => daemon.concurrent('none', call) !== undefined).map(
      (call) => `| ${call} p50 ms / calls per s | ${configurations.map((c) => ((v) => (v ? `${ms(v.p50)} / ${rate(v.perSecond)}` : '-'))(daemon.concurrent(c, call))).join(' | ')} |`,
    ),
    '',
    `RSS after the daemon rounds (every plugin served all of them), MiB: ${results.plugins.map((key) => `${PLUGIN_LABELS[key]} ${results.rssAfterDaemonMiB[key]!.toFixed(1)}`).join(', ')}.`,
    '',
    '## CPU per decision at daemon pace',
    '',
    paceTable(results.pace),
    '',
    ...loggingShare(results.pace),
    '## The plugin alone over its socket',
    '',
    `AuthZReq throughput on one core, ${t.connections} keep-alive connections from a hand-written HTTP/1.1 load generator. ` +
      '"mixed" = ping, container list, image list, container create, allowed pull, denied pull in turn. ' +
      '"per CPU second" = requests / CPU time (user + system) the plugin process used: the rate one core of its own sustains.',
    '',
    '| plugin | requests | AuthZReq per CPU second | AuthZReq/s wall clock | plugin CPU µs per request | errors |',
    '| --- | --- | --- | --- | --- | --- |',
    ...[
      ...results.plugins.filter((key) => t.mixed[key]).map((key): [string, LoadResult] => [`${PLUGIN_LABELS[key]}, mixed`, t.mixed[key]!]),
      ['image-access, pulls only', t.imageAccessPulls] as [string, LoadResult],
      [`image-access, 1 MiB service specs`, memory.bodies] as [string, LoadResult],
      [`image-access, pulls of distinct namespaces (nsN/app)`, memory.namespaces] as [string, LoadResult],
    ].map(
      ([name, r]) => `| ${name} | ${rate(r.requests)} | ${rate(r.perCpuSecond)} | ${rate(r.perSecond)} | ${((r.pluginCpuSeconds / r.requests) * 1e6).toFixed(1)} | ${r.errors} |`,
    ),
    '',
    'RSS of image-access over the mixed run (after a warm-up):',
    '',
    '| requests | RSS MiB |',
    '| --- | --- |',
    ...memory.rss.map((sample) => `| ${rate(sample.requests)} | ${sample.rssMiB.toFixed(1)} |`),
    '',
    `Then resident (30 s after the load stopped: V8's memory reducer has had its turn) after the pulls-only run ${memory.beforeNamespacesMiB.toFixed(1)} MiB; ` +
      `after ${rate(memory.namespaces.requests)} pulls of distinct namespaces (each a Hub badge lookup) ${memory.afterNamespacesMiB.toFixed(1)} MiB ` +
      `(${memory.afterNamespacesPeakMiB.toFixed(1)} as they ended); after ${rate(memory.bodies.requests)} requests with 1 MiB bodies ` +
      `${memory.afterBodiesMiB.toFixed(1)} MiB (${memory.afterBodiesPeakMiB.toFixed(1)} as they ended).`,
    '',
    `Heap still live after each full GC over the plugin-alone session (V8 --trace-gc), MB: ${liveHeap || 'none'}.`,
    '',
    '## Decision latency in process',
    '',
    `Parse the AuthZReq body, recognise, find who is signed in, judge, run the observers, write the decision log line; ${s['decisions']} each after warm-up (cold: ${s['coldDecisions']}), ms:`,
    '',
    '| policy source | request | wall p50 | wall p99 | wall max | CPU p50 | CPU p99 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...decisionRows(results.decisions).map(
      ([source, request, timed]) => `| ${source} | ${request} | ${ms(timed.wall.p50)} | ${ms(timed.wall.p99)} | ${ms(timed.wall.max)} | ${ms(timed.cpu.p50)} | ${ms(timed.cpu.p99)} |`,
    ),
    '',
    '## Start-up',
    '',
    `From spawn to the first answered \`/Plugin.Activate\`, ${s['startups']} starts each, every plugin and policy source in turn, ms. ` +
      'The Go peers start through `unshare -m` and `sh` (their socket directory, /run/docker/plugins, is bound to one of the bench), a few ms of their figures.',
    '',
    '| plugin | p50 | p99 | max |',
    '| --- | --- | --- | --- |',
    ...(Object.keys(results.startup) as StartKey[]).map((key) => `| ${START_LABELS[key]} | ${ms(results.startup[key]!.p50)} | ${ms(results.startup[key]!.p99)} | ${ms(results.startup[key]!.max)} |`),
    '',
  ];
  return lines.join('\n');
}

/** What README's Performance section shows, between `<!-- bench-results:start -->` and `<!-- bench-results:end -->`. */
export function readmeSection(results: BenchResults): string {
  return [machineLine(results), '', ...targetTable(results), '', ...summaryTable(results)].join('\n');
}

interface Bar {
  readonly label: string;
  readonly value: number;
  readonly color: string;
}

const COLORS: Readonly<Record<PluginKey, string>> = { minimal: '#8c8c8c', imageAccess: '#1d63ed', opa: '#e8a33d', authzBroker: '#3aa657' };
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One bar panel: groups of bars with value labels. */
function panel(x0: number, y: number, width: number, height: number, title: string, groups: ReadonlyArray<{ label: string; bars: readonly Bar[] }>, format: (v: number) => string): string {
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value))) * 1.15 || 1;
  const plotTop = y + 40;
  const plotHeight = height - 80;
  const toY = (value: number) => plotTop + plotHeight - (value / max) * plotHeight;
  const groupWidth = width / groups.length;
  const parts = [
    `<text x="${x0 + width / 2}" y="${y + 18}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<line x1="${x0}" y1="${plotTop + plotHeight}" x2="${x0 + width}" y2="${plotTop + plotHeight}" stroke="#333"/>`,
  ];
  groups.forEach((group, g) => {
    const barWidth = Math.min(44, (groupWidth - 12) / group.bars.length);
    const start = x0 + g * groupWidth + (groupWidth - barWidth * group.bars.length) / 2;
    group.bars.forEach((bar, b) => {
      const top = toY(Math.max(0, bar.value));
      const left = start + b * barWidth;
      parts.push(`<rect x="${left + 2}" y="${top}" width="${barWidth - 4}" height="${plotTop + plotHeight - top}" fill="${bar.color}"/>`);
      parts.push(`<text x="${left + barWidth / 2}" y="${top - 4}" text-anchor="middle" font-size="10">${escapeXml(format(bar.value))}</text>`);
    });
    parts.push(`<text x="${x0 + g * groupWidth + groupWidth / 2}" y="${plotTop + plotHeight + 16}" text-anchor="middle" font-size="11">${escapeXml(group.label)}</text>`);
  });
  return parts.join('\n');
}

export function chartSvg(results: BenchResults): string {
  const daemon = new DaemonRounds(results);
  const keys = results.plugins;
  const bars = (value: (key: PluginKey) => number | undefined): Bar[] =>
    keys.flatMap((key) => ((v) => (v === undefined ? [] : [{ label: PLUGIN_LABELS[key], value: v, color: COLORS[key] }]))(value(key)));
  const width = 1200;
  const height = 700;
  const w = 370;
  const h = 310;
  const startGroups = (Object.keys(results.startup) as StartKey[]).map((key) => ({
    label: { minimal: 'minimal', imageAccessBuiltin: 'embedded', imageAccessHub: 'Hub', imageAccessUrl: 'URL', opa: 'opa', authzBroker: 'broker' }[key],
    bars: [{ label: key, value: results.startup[key]!.p50, color: COLORS[key.startsWith('imageAccess') ? 'imageAccess' : (key as PluginKey)] }],
  }));
  const legend = keys
    .map((key, i) => `<rect x="${30 + i * 220}" y="${height - 28}" width="14" height="14" fill="${COLORS[key]}"/><text x="${50 + i * 220}" y="${height - 16}" font-size="12">${escapeXml(PLUGIN_LABELS[key])}</text>`)
    .join('\n');
  const body = [
    `<rect width="${width}" height="${height}" fill="white"/>`,
    panel(20, 10, w, h, 'Added to each docker API call (p50, ms)', CALLS.map((call) => ({ label: call.replace(' (cached)', ''), bars: bars((key) => daemon.added(key, call)) })), (v) => v.toFixed(2)),
    panel(420, 10, w, h, 'RSS after the daemon rounds (MiB)', [{ label: '', bars: bars((key) => results.rssAfterDaemonMiB[key]) }], (v) => v.toFixed(0)),
    panel(820, 10, w, h, 'CPU per API call at daemon pace (µs)', PACE_KINDS.map(([kind]) => ({ label: kind === 'pull' ? 'pull' : 'docker ps', bars: bars((key) => results.pace.plugins[key]?.cpuUsPerCall[kind].median) })), (v) => v.toFixed(0)),
    panel(20, 340, w, h, 'Start to first Activate (p50, ms)', startGroups, (v) => v.toFixed(0)),
    panel(420, 340, w, h, 'Plugin alone: AuthZReq per CPU second', [{ label: 'mixed requests', bars: bars((key) => results.throughput.mixed[key]?.perCpuSecond) }], rate),
    `<text x="1005" y="400" text-anchor="middle" font-size="12">${escapeXml(`${results.machine.nproc} x ${results.machine.cpu}`)}</text>`,
    `<text x="1005" y="420" text-anchor="middle" font-size="12">${escapeXml(`Node ${results.machine.node}`)}</text>`,
    `<text x="1005" y="440" text-anchor="middle" font-size="12">${escapeXml(results.machine.dockerd.replace(/, build.*/, ''))}</text>`,
    `<text x="1005" y="460" text-anchor="middle" font-size="12">${escapeXml(results.date.slice(0, 16).replace('T', ' '))} UTC${results.quick ? ' (quick run)' : ''}</text>`,
    legend,
  ].join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">\n${body}\n</svg>\n`;
}

const README_START = '<!-- bench-results:start -->';
const README_END = '<!-- bench-results:end -->';

/** `readme` with the text between the bench-results markers replaced by `section`; unchanged without the markers. */
export function withResultsSection(readme: string, section: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start === -1 || end < start) return readme;
  return `${readme.slice(0, start + README_START.length)}\n${section}\n${readme.slice(end)}`;
}

export function writeReport(dir: string, readme: string, results: BenchResults): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, 'RESULTS.md'), markdown(results));
  const svg = join(dir, 'chart.svg');
  writeFileSync(svg, chartSvg(results));
  // rsvg-convert comes from Debian's librsvg2-bin (make bench installs it).
  execFileSync('rsvg-convert', ['--format=png', `--output=${join(dir, 'chart.png')}`, svg]);
  if (existsSync(readme)) writeFileSync(readme, withResultsSection(readFileSync(readme, 'utf8'), readmeSection(results)));
}

/** Re-renders the report of an earlier run: node bench/dist/bench/report.js [results.json]. */
if (require.main === module) {
  const resultsDir = join(__dirname, '..', '..', '..', 'bench', 'results');
  const saved = JSON.parse(readFileSync(process.argv[2] ?? join(resultsDir, 'results.json'), 'utf8')) as BenchResults;
  writeReport(resultsDir, join(resultsDir, '..', '..', 'README.md'), saved);
}
