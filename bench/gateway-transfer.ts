/**
 * `make bench` (alone: `make bench-gateway`): what the registry gateway costs a large pull, in one run on real dockerds.
 * One registry serves a 64 MiB image (random bytes, so gzip cannot shrink it) over TLS, as Docker Hub does; three
 * dockerds pull it, in interleaved rounds: `direct` from that registry as their mirror, `mirror-front` through the
 * gateway fronting it (dockerd to gateway in plain HTTP, as a fronted mirror runs), `proxy` through the gateway as
 * HTTPS proxy (TLS terminated there, then TLS again upstream: the Docker Hub path). The plugin's RSS is sampled while
 * it streams. Writes bench/results/gateway.json and gateway.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import {
  freePort,
  httpRequest,
  makeTempDir,
  removeTempDir,
  seedLargeImage,
  spawnTracked,
  startDaemon,
  startRegistry,
  waitUntil,
  type Daemon,
  type Registry,
} from '../test/harness';
import { elapsedMs, summarize } from './stats';

const QUICK = process.env['BENCH_QUICK'] === '1';
const ROUNDS = QUICK ? 2 : 5;
/** BENCH_GATEWAY_MIB=256 shows the plugin's memory does not grow with the image. */
const IMAGE_BYTES = Number(process.env['BENCH_GATEWAY_MIB'] ?? 64) * 1024 * 1024;
const IMAGE = 'acme/large:1';
/** Issue 10's target: a pull through the gateway takes at most 1.1x the direct pull. */
const MAX_RATIO = 1.1;
/** Compiled to bench/dist/bench/: the repository is three levels up. */
const REPO = resolve(__dirname, '..', '..', '..');
const RESULTS_DIR = join(REPO, 'bench', 'results');

type Mode = 'direct' | 'mirror-front' | 'proxy';
const MODES: readonly Mode[] = ['direct', 'mirror-front', 'proxy'];

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Samples `pid`'s RSS every 20 ms while `work` runs; resolves with the work's result and the highest sample. */
async function sampled<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peakMiB: number }> {
  let peakMiB = rssMiB(pid);
  const timer = setInterval(() => (peakMiB = Math.max(peakMiB, rssMiB(pid))), 20);
  try {
    return { result: await work(), peakMiB };
  } finally {
    clearInterval(timer);
  }
}

async function pullMs(daemon: Daemon): Promise<number> {
  const started = process.hrtime.bigint();
  const pulled = await daemon.docker(['pull', '-q', IMAGE], { timeoutMs: 300_000 });
  const ms = elapsedMs(started);
  if (pulled.code !== 0) throw new Error(`docker pull ${IMAGE} failed: ${pulled.stderr}`);
  const removed = await daemon.docker(['rmi', IMAGE]);
  if (removed.code !== 0) throw new Error(`docker rmi ${IMAGE} failed: ${removed.stderr}`);
  return ms;
}

async function main(): Promise<void> {
  const dir = makeTempDir();
  const stops: Array<() => Promise<void>> = [];
  try {
    // Seeded over plain HTTP, then served over TLS from the same storage.
    const seeding = await startRegistry(dir);
    await seedLargeImage(seeding, IMAGE, IMAGE_BYTES).finally(() => seeding.stop());
    const trustDir = join(dir, 'registry-trust');
    mkdirSync(trustDir);
    const certificate = join(trustDir, 'registry.pem');
    const key = join(dir, 'registry-key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', certificate,
      '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const registry: Registry = await startRegistry(join(dir, 'tls'), { tls: { certificate, key }, storageDir: seeding.storageDir });
    stops.push(() => registry.stop());
    const gateway = `127.0.0.1:${await freePort()}`;
    const stateDir = join(dir, 'state');
    const socket = join(dir, 'plugin.sock');
    const plugin = spawnTracked('plugin', process.execPath, [join(REPO, 'dist', 'cli.js')], {
      logDir: dir,
      env: {
        ...process.env,
        IMAGE_ACCESS_SOCKET: socket,
        IMAGE_ACCESS_POLICY: 'builtin',
        IMAGE_ACCESS_ORG: 'acme',
        IMAGE_ACCESS_REQUIRE_SIGNIN: 'off',
        IMAGE_ACCESS_GATEWAY: gateway,
        IMAGE_ACCESS_HUB_REGISTRY: registry.url,
        IMAGE_ACCESS_CA_BUNDLE: certificate,
        IMAGE_ACCESS_STATE_DIR: stateDir,
      },
    });
    stops.push(() => plugin.stop());
    await waitUntil('the plugin to answer', async () => (await httpRequest({ socketPath: socket, path: '/Plugin.Activate' }, { method: 'POST' })).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    // No authorization plugin in any chain: what differs between the three is the path the bytes take.
    const daemons: Record<Mode, Daemon> = {
      direct: await startDaemon(join(dir, 'direct'), { daemonJson: { 'registry-mirrors': [registry.url] }, env: { SSL_CERT_DIR: `/etc/ssl/certs:${trustDir}` } }),
      'mirror-front': await startDaemon(join(dir, 'front'), { mirror: gateway }),
      proxy: await startDaemon(join(dir, 'proxy'), { env: { HTTPS_PROXY: `http://${gateway}`, SSL_CERT_DIR: `/etc/ssl/certs:${join(stateDir, 'gateway-ca')}` } }),
    };
    for (const mode of MODES) stops.push(() => daemons[mode].stop());
    const idleRssMiB = rssMiB(plugin.pid);
    const times: Record<Mode, number[]> = { direct: [], 'mirror-front': [], proxy: [] };
    let peakRssMiB = idleRssMiB;
    // One pull each first: DNS, TLS and connection set-up are not what a large pull costs.
    for (const mode of MODES) await pullMs(daemons[mode]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
        const { result, peakMiB } = await sampled(plugin.pid, () => pullMs(daemons[mode]));
        times[mode].push(result);
        if (mode !== 'direct') peakRssMiB = Math.max(peakRssMiB, peakMiB);
      }
    }
    const median = (mode: Mode) => summarize(times[mode]).p50;
    const ratios = { 'mirror-front': median('mirror-front') / median('direct'), proxy: median('proxy') / median('direct') };
    const results = {
      date: new Date().toISOString(),
      loadavg: loadavg(),
      imageMiB: IMAGE_BYTES / 1024 / 1024,
      rounds: ROUNDS,
      pullMs: Object.fromEntries(MODES.map((mode) => [mode, { median: median(mode), samples: times[mode] }])),
      ratioToDirect: ratios,
      pluginRssMiB: { idle: idleRssMiB, peakWhileStreaming: peakRssMiB },
      targets: { maxRatio: MAX_RATIO, met: ratios['mirror-front'] <= MAX_RATIO && ratios.proxy <= MAX_RATIO },
    };
    const name = IMAGE_BYTES === 64 * 1024 * 1024 ? 'gateway' : `gateway-${results.imageMiB}mib`;
    writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
    const row = (mode: Mode) =>
      `| ${mode} | ${median(mode).toFixed(0)} | ${mode === 'direct' ? '1.00' : ratios[mode].toFixed(2)} |`;
    writeFileSync(
      join(RESULTS_DIR, `${name}.md`),
      [
        `# Registry gateway: a ${results.imageMiB} MiB pull`,
        '',
        `${results.date}; ${ROUNDS} interleaved rounds after one warm-up pull each; load average ${results.loadavg.map((n) => n.toFixed(2)).join(' ')}.`,
        '',
        '| path | median pull ms | vs direct |',
        '| --- | --- | --- |',
        ...MODES.map(row),
        '',
        `Plugin RSS: ${idleRssMiB.toFixed(0)} MiB idle, at most ${peakRssMiB.toFixed(0)} MiB while streaming ${ROUNDS * 2} pulls of ${results.imageMiB} MiB.`,
        `Target (at most ${MAX_RATIO}x direct): ${results.targets.met ? 'met' : 'NOT met'}.`,
        '',
      ].join('\n'),
    );
    process.stdout.write(readFileSync(join(RESULTS_DIR, `${name}.md`), 'utf8'));
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    removeTempDir(dir);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
