/** Turns one bench run into results.json, RESULTS.md (tables, targets met or missed) and chart.png. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Measured } from './api-client';
import type { Timed } from './decision-latency';
import type { Summary } from './stats';

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
  /** IMAGE_ACCESS_POLICY=hub with a signed-in member, everything cached after the first decision. */
  readonly hubCached: Record<string, Timed>;
  /** A fresh plugin core per decision: sign-in, organisation, policy and badge fetched from the stand-in Hub. */
  readonly hubCold: Record<string, Timed>;
}

type PerCall = Record<string, { sequential: Measured; concurrent: Measured }>;

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
  /** Keyed `none`, `minimal`, `imageAccess`, then by API call label. */
  readonly api: Record<string, PerCall>;
  readonly throughput: { imageAccessMixed: LoadResult; imageAccessPulls: LoadResult; minimalMixed: LoadResult; connections: number };
  readonly memory: {
    /** RSS sampled every tenth of the mixed run, after a warm-up. */
    readonly rss: ReadonlyArray<{ requests: number; rssMiB: number }>;
    /** The plugin's heap still in use after each full (mark-compact) GC, over the whole plugin-alone session. */
    readonly liveHeapAfterFullGcMB: readonly number[];
  };
  readonly decisions: DecisionLatency;
  readonly startup: { imageAccess: Summary; minimal: Summary };
}

const ms = (value: number) => (value < 1 ? value.toFixed(3) : value.toFixed(2));
const pair = (s: Summary) => `${ms(s.p50)} / ${ms(s.p99)}`;
const rate = (value: number) => Math.round(value).toLocaleString('en-US');
const verdict = (met: boolean) => (met ? '**met**' : '**missed**');

interface AddedLatency {
  readonly call: string;
  readonly mode: 'sequential' | 'concurrent';
  readonly minimal: { p50: number; p99: number };
  readonly imageAccess: { p50: number; p99: number };
}

/** (c - a) and (b - a): what each plugin adds to a call, on the median and the tail. */
function addedLatencies(results: BenchResults): AddedLatency[] {
  const { none, minimal, imageAccess } = results.api as Record<'none' | 'minimal' | 'imageAccess', PerCall>;
  return Object.keys(none).flatMap((call) =>
    (['sequential', 'concurrent'] as const).map((mode) => {
      const base = none[call]![mode].latency;
      const added = (run: PerCall) => ({ p50: run[call]![mode].latency.p50 - base.p50, p99: run[call]![mode].latency.p99 - base.p99 });
      return { call, mode, minimal: added(minimal), imageAccess: added(imageAccess) };
    }),
  );
}

/** (c-a)/(b-a); undefined when the minimal plugin's addition is lost in the call's own noise (b <= a). */
const ratio = (c: number, b: number): number | undefined => (b > 0 ? c / b : undefined);
const ratioText = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(2));

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
  ['hubCached', 'hub (stand-in Hub), cached'],
  ['hubCold', 'hub (stand-in Hub), cold: everything fetched'],
];

function decisionRows(decisions: DecisionLatency): Array<[string, string, Timed]> {
  return SOURCES.flatMap(([key, source]) =>
    Object.entries(decisions[key]).map(([kind, timed]): [string, string, Timed] => [source, REQUEST_KINDS[kind] ?? kind, timed]),
  );
}

export function markdown(results: BenchResults): string {
  const m = results.machine;
  const added = addedLatencies(results);
  const { none, minimal, imageAccess } = results.api as Record<'none' | 'minimal' | 'imageAccess', PerCall>;
  const t = results.throughput;
  const memory = memoryGrowth(results.memory.rss);
  const liveHeap = results.memory.liveHeapAfterFullGcMB.map((mb) => mb.toFixed(1)).join(', ');
  const cachedPulls = decisionRows(results.decisions).filter(([source, request]) => !source.includes('cold') && request.includes('pull,'));
  const cachedPullP99 = Math.max(...cachedPulls.map(([, , t]) => t.wall.p99));
  const cachedPullCpuP99 = Math.max(...cachedPulls.map(([, , t]) => t.cpu.p99));
  // The pull's own spread (a manifest round trip to the mirror) is wider than a plugin's cost: judged on the others.
  const ratios = added.filter((a) => a.mode === 'sequential' && !a.call.startsWith('POST')).map((a) => ratio(a.imageAccess.p50, a.minimal.p50) ?? Infinity);
  const worstRatio = Math.max(...ratios);
  const lines = [
    '# image-access benchmark',
    '',
    `Run ${results.date}${results.quick ? ' (BENCH_QUICK: a tenth of the usual counts)' : ''} by \`make bench\`.`,
    `Machine: ${m.nproc} CPUs (${m.cpu}), Linux ${m.kernel}, Node ${m.node}, ${m.dockerd}; load average at start ${m.loadAverageAtStart.toFixed(2)}` +
      ` (a shared machine: other work was running, so expect noise).${m.pinned ? ' Plugin-alone runs: plugin pinned to core 0, load generator to core 1 (`taskset`).' : ''}`,
    '',
    '## Targets',
    '',
    '| target | result | |',
    '| --- | --- | --- |',
    `| added latency per API call <= 1.2x the minimal Node plugin's (sequential p50; ping and container list) | worst ${worstRatio.toFixed(2)}x | ${verdict(worstRatio <= 1.2)} |`,
    `| cached pull decision p99 < 1 ms in process | worst wall p99 ${ms(cachedPullP99)} ms (CPU p99 ${ms(cachedPullCpuP99)} ms) | ${verdict(cachedPullP99 < 1)} |`,
    `| >= 10k AuthZReq/s on one core (mixed requests) | ${rate(t.imageAccessMixed.perCpuSecond)} per CPU second (${rate(t.imageAccessMixed.perSecond)}/s wall clock on a shared core) | ${verdict(t.imageAccessMixed.perCpuSecond >= 10_000)} |`,
    `| memory flat over ${rate(results.memory.rss[results.memory.rss.length - 1]!.requests)} requests | RSS ${results.memory.rss[0]!.rssMiB.toFixed(1)} MiB after warm-up, ${memory.midpoint.toFixed(1)} at mid-run, at most ${memory.highest.toFixed(1)} in the second half (+${(memory.growth * 100).toFixed(1)}%), ${memory.end.toFixed(1)} at the end; live heap after full GCs ${liveHeap} MB | ${verdict(memory.growth <= 0.1)} |`,
    `| socket ready < 400 ms after start | p50 ${ms(results.startup.imageAccess.p50)} ms, max ${ms(results.startup.imageAccess.max)} ms | ${verdict(results.startup.imageAccess.max < 400)} |`,
    '',
    '## API round trips through the daemon socket',
    '',
    `Latency p50 / p99 in ms; sequential = one call at a time (${results.sizes['apiCalls']} calls, ${results.sizes['pulls']} pulls, after warm-up),` +
      ` concurrent = ${results.sizes['concurrency']} in flight (${results.sizes['apiCalls']} calls, ${results.sizes['concurrentPulls'] ?? results.sizes['pulls']} pulls). (a) no plugin, (b) minimal allow-all plugin on node:http, (c) image-access.`,
    '',
    '| call | mode | (a) none | (b) minimal | (c) image-access | added by (b) p50 | added by (c) p50 | (c-a)/(b-a) p50 | (c-a)/(b-a) p99 | calls/s a / b / c |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...added.map((a) => {
      const run = (per: PerCall) => per[a.call]![a.mode];
      return (
        `| ${a.call} | ${a.mode} | ${pair(run(none).latency)} | ${pair(run(minimal).latency)} | ${pair(run(imageAccess).latency)} | ` +
        `${ms(a.minimal.p50)} | ${ms(a.imageAccess.p50)} | ${ratioText(ratio(a.imageAccess.p50, a.minimal.p50))} | ${ratioText(ratio(a.imageAccess.p99, a.minimal.p99))} | ` +
        `${rate(run(none).perSecond)} / ${rate(run(minimal).perSecond)} / ${rate(run(imageAccess).perSecond)} |`
      );
    }),
    '',
    'A pull of a cached image still makes the daemon ask the registry mirror for the manifest, so its own spread is wider than what any plugin adds: ' +
      'read its ratio with that in mind. About 2% of pulls stall 5 s inside dockerd between the authorization and the registry request, with or without a plugin ' +
      '(dockerd --debug: "Calling POST /images/create" then "Trying to pull" 5 s later): that is the pulls\' p99. Concurrent pulls of one image queue in the daemon.',
    '',
    '## The plugin alone over its socket',
    '',
    `AuthZReq throughput on one core, ${t.connections} keep-alive connections from a hand-written HTTP/1.1 load generator. ` +
      '"mixed" = ping, container list, image list, container create, allowed pull, denied pull in turn (a third are pulls, each one logged); "pulls" = allowed and denied pulls only.',
    '',
    '"per CPU second" = requests / CPU time (user + system) the plugin process used: the rate one core of its own sustains. ' +
      "The wall-clock rate is lower whenever other processes share the plugin's core.",
    '',
    '| plugin | requests | AuthZReq per CPU second | AuthZReq/s wall clock | plugin CPU µs per request | errors |',
    '| --- | --- | --- | --- | --- | --- |',
    ...(
      [
        ['minimal node:http plugin, mixed', t.minimalMixed],
        ['image-access, mixed', t.imageAccessMixed],
        ['image-access, pulls only', t.imageAccessPulls],
      ] as const
    ).map(
      ([label, r]) =>
        `| ${label} | ${rate(r.requests)} | ${rate(r.perCpuSecond)} | ${rate(r.perSecond)} | ${((r.pluginCpuSeconds / r.requests) * 1e6).toFixed(1)} | ${r.errors} |`,
    ),
    '',
    `Decision latency in process (parse the AuthZReq body, recognise, find who is signed in, judge, run the observers, write the decision log line), ` +
      `${results.sizes['decisions']} each after warm-up (cold: ${results.sizes['coldDecisions']}), ms. Wall-clock time includes moments the OS ran other processes; CPU time is the plugin's own work:`,
    '',
    '| policy source | request | wall p50 | wall p99 | wall max | CPU p50 | CPU p99 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...decisionRows(results.decisions).map(
      ([source, request, t]) => `| ${source} | ${request} | ${ms(t.wall.p50)} | ${ms(t.wall.p99)} | ${ms(t.wall.max)} | ${ms(t.cpu.p50)} | ${ms(t.cpu.p99)} |`,
    ),
    '',
    'RSS of the plugin process over the mixed run (after a warm-up):',
    '',
    '| requests | RSS MiB |',
    '| --- | --- |',
    ...results.memory.rss.map((sample) => `| ${rate(sample.requests)} | ${sample.rssMiB.toFixed(1)} |`),
    '',
    `Heap still live after each full GC over the plugin-alone session (V8 --trace-gc), MB: ${liveHeap}. ` +
      'RSS rises while V8 lets its old space grow between full collections; what survives them stays level.',
    '',
    `Start-up, from spawn to the first answered \`/Plugin.Activate\` (${results.sizes['startups']} starts), ms: ` +
      `image-access p50 ${ms(results.startup.imageAccess.p50)}, max ${ms(results.startup.imageAccess.max)}; ` +
      `minimal plugin p50 ${ms(results.startup.minimal.p50)}, max ${ms(results.startup.minimal.max)}.`,
    '',
  ];
  return lines.join('\n');
}

interface Bar {
  readonly label: string;
  readonly value: number;
  readonly color: string;
}

const MINIMAL_COLOR = '#8c8c8c';
const IMAGE_ACCESS_COLOR = '#1d63ed';
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One bar panel: groups of bars with value labels, optional dashed target line. */
function panel(x: number, y: number, width: number, height: number, title: string, groups: ReadonlyArray<{ label: string; bars: readonly Bar[] }>, format: (v: number) => string, target?: { value: number; label: string }): string {
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value)), target?.value ?? 0) * 1.15 || 1;
  const plotTop = y + 40;
  const plotHeight = height - 90;
  const toY = (value: number) => plotTop + plotHeight - (value / max) * plotHeight;
  const groupWidth = width / groups.length;
  const parts = [
    `<text x="${x + width / 2}" y="${y + 18}" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<line x1="${x}" y1="${plotTop + plotHeight}" x2="${x + width}" y2="${plotTop + plotHeight}" stroke="#333"/>`,
  ];
  groups.forEach((group, g) => {
    const barWidth = Math.min(60, (groupWidth - 20) / group.bars.length);
    const start = x + g * groupWidth + (groupWidth - barWidth * group.bars.length) / 2;
    group.bars.forEach((bar, b) => {
      const top = toY(Math.max(0, bar.value));
      const left = start + b * barWidth;
      parts.push(`<rect x="${left + 2}" y="${top}" width="${barWidth - 4}" height="${plotTop + plotHeight - top}" fill="${bar.color}"/>`);
      parts.push(`<text x="${left + barWidth / 2}" y="${top - 4}" text-anchor="middle" font-size="11">${escapeXml(format(bar.value))}</text>`);
    });
    parts.push(`<text x="${x + g * groupWidth + groupWidth / 2}" y="${plotTop + plotHeight + 18}" text-anchor="middle" font-size="12">${escapeXml(group.label)}</text>`);
  });
  if (target) {
    const ty = toY(target.value);
    parts.push(`<line x1="${x}" y1="${ty}" x2="${x + width}" y2="${ty}" stroke="#d33" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${x + width}" y="${ty - 4}" text-anchor="end" font-size="11" fill="#d33">${escapeXml(target.label)}</text>`);
  }
  return parts.join('\n');
}

export function chartSvg(results: BenchResults): string {
  const sequential = addedLatencies(results).filter((a) => a.mode === 'sequential');
  const t = results.throughput;
  const width = 1100;
  const height = 420;
  const legend = (lx: number, ly: number) =>
    [
      `<rect x="${lx}" y="${ly}" width="14" height="14" fill="${MINIMAL_COLOR}"/><text x="${lx + 20}" y="${ly + 12}" font-size="12">minimal node:http plugin</text>`,
      `<rect x="${lx + 190}" y="${ly}" width="14" height="14" fill="${IMAGE_ACCESS_COLOR}"/><text x="${lx + 210}" y="${ly + 12}" font-size="12">image-access</text>`,
    ].join('\n');
  const body = [
    `<rect width="${width}" height="${height}" fill="white"/>`,
    panel(30, 10, 620, 370, 'Latency added to each docker API call (sequential p50, ms)', sequential.map((a) => ({
      label: a.call,
      bars: [
        { label: 'minimal', value: a.minimal.p50, color: MINIMAL_COLOR },
        { label: 'image-access', value: a.imageAccess.p50, color: IMAGE_ACCESS_COLOR },
      ],
    })), ms),
    panel(700, 10, 370, 370, 'AuthZReq per CPU second, plugin alone', [
      { label: 'mixed', bars: [{ label: 'minimal', value: t.minimalMixed.perCpuSecond, color: MINIMAL_COLOR }, { label: 'image-access', value: t.imageAccessMixed.perCpuSecond, color: IMAGE_ACCESS_COLOR }] },
      { label: 'pulls only', bars: [{ label: 'image-access', value: t.imageAccessPulls.perCpuSecond, color: IMAGE_ACCESS_COLOR }] },
    ], rate, { value: 10_000, label: 'target 10k/s' }),
    legend(30, 395),
    `<text x="${width - 10}" y="${height - 8}" text-anchor="end" font-size="11" fill="#555">${escapeXml(`${results.machine.nproc} x ${results.machine.cpu}, Node ${results.machine.node}, ${results.machine.dockerd}`)}</text>`,
  ].join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">\n${body}\n</svg>\n`;
}

export function writeReport(dir: string, results: BenchResults): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, 'RESULTS.md'), markdown(results));
  const svg = join(dir, 'chart.svg');
  writeFileSync(svg, chartSvg(results));
  // rsvg-convert comes from Debian's librsvg2-bin (make bench installs it).
  execFileSync('rsvg-convert', ['--format=png', `--output=${join(dir, 'chart.png')}`, svg]);
}
