import type { Measured } from '../../bench/api-client';
import { paceTable, type PaceResult, type PaceRun } from '../../bench/daemon-pace';
import { entrypointHere, type PluginKey } from '../../bench/plugins';
import { targets, withResultsSection, type ApiRound, type BenchResults, type Configuration, type LoadResult, type TargetRow } from '../../bench/report';

/** The bench's verdicts: issue 15's targets, computed from one run's numbers. */

const measured = (p50: number): Measured => ({ latency: { count: 100, p50, p99: p50 * 3, max: p50 * 10 }, perSecond: 1000 / p50 });
/** One round: every call takes `p50` ms in each configuration. */
const round = (p50: Partial<Record<Configuration, number>>): Partial<Record<Configuration, ApiRound>> =>
  Object.fromEntries(
    Object.entries(p50).map(([configuration, ms]) => [
      configuration,
      { 'HEAD /_ping': { sequential: measured(ms) }, 'GET /containers/json': { sequential: measured(ms) }, 'POST /images/create (cached)': { sequential: measured(ms * 10) } },
    ]),
  );
const load = (perCpuSecond: number): LoadResult => ({ requests: 1000, seconds: 1, perSecond: perCpuSecond, errors: 0, pluginCpuSeconds: 1000 / perCpuSecond, perCpuSecond });
const pace = (pull: number, nonPull: number): PaceResult => ({
  cpuUsPerCall: { pull: { median: pull, rounds: [pull] }, nonPull: { median: nonPull, rounds: [nonPull] } },
  wallUsPerCall: { pull: pull, nonPull },
  spacedPullUs: pull * 2,
});
const timed = { wall: { count: 1, p50: 0.02, p99: 0.05, max: 1 }, cpu: { count: 1, p50: 0.02, p99: 0.05, max: 1 } };
const startup = (p50: number) => ({ count: 20, p50, p99: p50, max: p50 });

function run(overrides: Partial<BenchResults> = {}): BenchResults {
  const plugins: PluginKey[] = ['minimal', 'imageAccess', 'opa', 'authzBroker'];
  const paceRun: PaceRun = {
    callsPerRound: 3000,
    rounds: 3,
    loadBefore: 0.1,
    loadAfter: 0.1,
    plugins: { minimal: pace(100, 80), imageAccess: pace(150, 121), opa: pace(1000, 1000), authzBroker: pace(200, 130) },
  };
  return {
    date: '2026-11-30T00:00:00.000Z',
    quick: false,
    machine: { nproc: 2, cpu: 'cpu', node: 'v20', dockerd: 'Docker version 20.10.24', kernel: '6', loadAverageAtStart: 0.1, pinned: true },
    sizes: {},
    plugins,
    phases: [{ name: 'daemon rounds', seconds: 10, loadBefore: 0.1, loadAfter: 0.2 }],
    api: { rounds: [round({ none: 0.2, minimal: 0.6, imageAccess: 0.64, opa: 0.7, authzBroker: 0.65 })] },
    rssAfterDaemonMiB: { minimal: 50, imageAccess: 60, opa: 25, authzBroker: 14 },
    pace: paceRun,
    throughput: { mixed: { minimal: load(50_000), imageAccess: load(20_000) }, imageAccessPulls: load(10_000), connections: 32 },
    memory: {
      rss: [
        { requests: 0, rssMiB: 80 },
        { requests: 500_000, rssMiB: 100 },
        { requests: 1_000_000, rssMiB: 105 },
      ],
      liveHeapAfterFullGcMB: [12],
      beforeNamespacesMiB: 100,
      afterNamespacesPeakMiB: 150,
      afterNamespacesMiB: 110,
      afterBodiesPeakMiB: 140,
      afterBodiesMiB: 121,
      bodies: load(50),
      namespaces: load(5000),
    },
    decisions: { builtin: { pullAllowed: timed }, hubCached: { pullAllowed: timed }, hubCold: { pullDenied: timed } },
    startup: { minimal: startup(100), imageAccessBuiltin: startup(150), imageAccessHub: startup(151), imageAccessUrl: startup(120), opa: startup(20), authzBroker: startup(20) },
    pluginSize: { compressedBytes: 34_000_000, build: '/tmp/build' },
    ...overrides,
  };
}

const row = (rows: TargetRow[], starts: string) => {
  const found = rows.find((r) => r.target.startsWith(starts));
  if (!found) throw new Error(`no target row starting ${starts}: ${rows.map((r) => r.target).join('; ')}`);
  return found;
};

describe('bench targets (issue 15)', () => {
  test('added latency: within 1.1x the minimal plugin, and no worse than the best Go peer', () => {
    const ping = row(targets(run()), 'added latency, HEAD /_ping');
    expect(ping.measured).toBe('+0.440 ms vs minimal +0.400 ms: 1.10x; best Go peer (authz-broker) +0.450 ms');
    expect(ping.met).toBe(true);
  });

  test('added latency above the best Go peer is not met, even within 1.1x the minimal plugin', () => {
    const rows = targets(run({ api: { rounds: [round({ none: 0.2, minimal: 0.6, imageAccess: 0.62, opa: 0.7, authzBroker: 0.55 })] } }));
    expect(row(rows, 'added latency, GET /containers/json').met).toBe(false);
  });

  test('added latency is the median over rounds of each round against no plugin in the same round', () => {
    const rounds = [
      round({ none: 0.2, minimal: 0.6, imageAccess: 0.62 }),
      round({ none: 1.2, minimal: 1.6, imageAccess: 3.0 }),
      round({ none: 0.3, minimal: 0.7, imageAccess: 0.71 }),
    ];
    const ping = row(targets(run({ plugins: ['minimal', 'imageAccess'], api: { rounds } })), 'added latency, HEAD /_ping');
    expect(ping.measured).toBe(
      '+0.420 ms vs minimal +0.400 ms: 1.05x; no Go peer in this run; per round, image-access minus the minimal plugin +0.477 ms on average (standard error 0.462)',
    );
    expect(ping.met).toBe(true);
  });

  test('how far apart image-access and the minimal plugin are per round, and how precisely: from two rounds on', () => {
    const rounds = [round({ none: 0.2, minimal: 0.6, imageAccess: 0.5 }), round({ none: 0.2, minimal: 0.6, imageAccess: 0.9 })];
    const ping = row(targets(run({ plugins: ['minimal', 'imageAccess'], api: { rounds } })), 'added latency, HEAD /_ping');
    // Differences -0.1 and +0.3: mean +0.1, standard deviation 0.283, standard error 0.2.
    expect(ping.measured).toMatch(/; per round, image-access minus the minimal plugin \+0\.100 ms on average \(standard error 0\.200\)$/);
    expect(row(targets(run()), 'added latency, HEAD /_ping').measured).not.toContain('per round');
  });

  test('an addition lost in the noise (the minimal plugin faster than no plugin) is not judged', () => {
    const rows = targets(run({ api: { rounds: [round({ none: 0.6, minimal: 0.5, imageAccess: 0.7, opa: 0.7, authzBroker: 0.7 })] } }));
    const ping = row(rows, 'added latency, HEAD /_ping');
    expect(ping.met).toBeUndefined();
    expect(ping.measured).toContain('vs minimal -0.100 ms: n/a');
  });

  test('RSS after the daemon rounds: at most 1.2x the minimal plugin', () => {
    expect(row(targets(run()), 'RSS after the daemon rounds').met).toBe(true);
    expect(row(targets(run({ rssAfterDaemonMiB: { minimal: 50, imageAccess: 60.5 } })), 'RSS after the daemon rounds').measured).toBe('60.5 MiB vs 50.0 MiB: 1.21x');
    expect(row(targets(run({ rssAfterDaemonMiB: { minimal: 50, imageAccess: 60.5 } })), 'RSS after the daemon rounds').met).toBe(false);
  });

  test('each workload is judged by what it leaves resident against what was resident right before it', () => {
    const rows = targets(run());
    expect(row(rows, 'RSS flat (within 10%) after 1,000 pulls of distinct namespaces')).toEqual(
      expect.objectContaining({ measured: 'resident 100.0 -> 110.0 MiB (1.10x); 150.0 MiB as it ended', met: true }),
    );
    expect(row(rows, 'RSS flat (within 10%) after 1,000 requests with 1 MiB bodies')).toEqual(
      expect.objectContaining({ measured: 'resident 110.0 -> 121.0 MiB (1.10x); 140.0 MiB as it ended', met: true }),
    );
    const grown = targets(run({ memory: { ...run().memory, afterBodiesMiB: 122 } }));
    expect(row(grown, 'RSS flat (within 10%) after 1,000 requests with 1 MiB bodies').met).toBe(false);
  });

  test('start-up of every policy source within 1.5x the minimal plugin p50', () => {
    const rows = targets(run());
    expect(row(rows, 'start-up to the first answered Activate, image-access, embedded policy').met).toBe(true);
    expect(row(rows, 'start-up to the first answered Activate, image-access, Hub policy').met).toBe(false);
    expect(row(rows, 'start-up to the first answered Activate, image-access, https URL policy').measured).toBe('120.00 ms vs 100.00 ms: 1.20x');
  });

  test('CPU per call at daemon pace, pull and non-pull, within 1.5x the minimal plugin', () => {
    const rows = targets(run());
    expect(row(rows, 'CPU per API call at daemon pace, a pull')).toEqual(expect.objectContaining({ measured: '150.0 µs vs 100.0 µs: 1.50x', met: true }));
    expect(row(rows, 'CPU per API call at daemon pace, a non-pull').met).toBe(false);
  });

  test('the pushed plugin at most 34 MB', () => {
    expect(row(targets(run()), 'managed plugin pushed').met).toBe(true);
    expect(row(targets(run({ pluginSize: { compressedBytes: 34_000_001, build: '/tmp/b' } })), 'managed plugin pushed').met).toBe(false);
  });
});

describe('the daemon-pace table', () => {
  test("each plugin's row ends with its pull round trip at dockerd's spacing", () => {
    const table = paceTable(run().pace);
    expect(table).toContain('pull AuthZReq round trip µs, 8 ms apart (p50)');
    expect(table.split('\n').find((line) => line.startsWith('| image-access |'))).toMatch(/\| 300 \|$/);
  });
});

describe("README's results table", () => {
  const readme = 'intro\n<!-- bench-results:start -->\nold table\n<!-- bench-results:end -->\nafter\n';

  test('the run replaces what is between the markers, nothing else', () => {
    expect(withResultsSection(readme, 'new table')).toBe('intro\n<!-- bench-results:start -->\nnew table\n<!-- bench-results:end -->\nafter\n');
  });

  test('a README without the markers is left as it is', () => {
    expect(withResultsSection('no markers here\n', 'new table')).toBe('no markers here\n');
  });
});

describe("image-access starts as config.json's entrypoint says", () => {
  test('node flags kept, /opt/image-access mapped to the repository, this node', () => {
    expect(entrypointHere(['/usr/bin/node', '--max-semi-space-size=1', '/opt/image-access/bundle/cli.js'], '/work/repo', '/opt/node/bin/node')).toEqual({
      command: '/opt/node/bin/node',
      args: ['--max-semi-space-size=1', '/work/repo/bundle/cli.js'],
    });
  });

  test('only the /opt/image-access directory itself is mapped', () => {
    expect(entrypointHere(['/usr/bin/node', '/opt/image-access-other/cli.js'], '/r', 'node').args).toEqual(['/opt/image-access-other/cli.js']);
  });

  test('an entrypoint that is not node is refused', () => {
    expect(() => entrypointHere(['/bin/sh', '-c', 'x'], '/r', 'node')).toThrow('config.json entrypoint does not start with node');
  });
});
