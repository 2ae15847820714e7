/**
 * What large request bodies cost (issue 11, "one thread parses every body"), on a real dockerd started here
 * (IA_ENGINE picks 20.10 or 26.1):
 * - one service spec of SPEC_BYTES judged by the plugin, asked directly on its socket, one at a time;
 * - `GET /containers/json` (docker ps) latency through dockerd, alone and while IN_FLIGHT such specs are sent
 *   through dockerd at once (`POST /services/create`: no swarm, so dockerd refuses after the plugin judged it);
 * - the plugin's peak RSS (VmHWM).
 * Run: npx tsc -p tsconfig.json && npx tsc -p bench/tsconfig.json && node bench/dist/bench/large-bodies.js
 * (SPEC_MIB=4 IN_FLIGHT=60 for 26.1's limit). Numbers from a shared machine are indications, not a benchmark.
 */
import { readFileSync } from 'node:fs';
import { ENGINE, httpRequest, startEngine } from '../test/harness';
import { serviceSpec } from './authz-requests';
import { summarize } from './stats';

const SPEC_BYTES = Number(process.env['SPEC_MIB'] ?? '1') * 1024 * 1024 - 4096;
const IN_FLIGHT = Number(process.env['IN_FLIGHT'] ?? '100');
const SEQUENTIAL = 30;

const peakRssMb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function timed<T>(work: () => Promise<T>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function main(): Promise<void> {
  const env = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_DAEMON_JSON: '' };
  const engine = await startEngine({ plugin: { env } });
  try {
    const spec = Buffer.from(serviceSpec(SPEC_BYTES, 'someone/app:1.0'));
    const authz = JSON.stringify({
      RequestMethod: 'POST',
      RequestUri: '/v1.41/services/create',
      RequestBody: spec.toString('base64'),
      RequestHeaders: { 'Content-Type': 'application/json' },
    });
    const plugin = { socketPath: engine.plugin!.socket, path: '/AuthZPlugin.AuthZReq' };
    const judged: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) judged.push(await timed(() => httpRequest(plugin, { method: 'POST', body: authz, timeoutMs: 60_000 })));

    const daemon = engine.daemon.socket;
    const ps = () => httpRequest({ socketPath: daemon, path: '/v1.41/containers/json' }, { timeoutMs: 120_000 });
    const alone: number[] = [];
    for (let i = 0; i < 50; i++) alone.push(await timed(ps));

    const loaded: number[] = [];
    let sending = true;
    const started = process.hrtime.bigint();
    const specs = Promise.all(
      Array.from({ length: IN_FLIGHT }, () =>
        httpRequest(
          { socketPath: daemon, path: '/v1.41/services/create' },
          { method: 'POST', body: spec, headers: { 'Content-Type': 'application/json' }, timeoutMs: 300_000 },
        ),
      ),
    ).finally(() => (sending = false));
    while (sending) loaded.push(await timed(ps));
    const replies = await specs;
    const allSpecsMs = Number(process.hrtime.bigint() - started) / 1e6;
    const denied = replies.filter((reply) => reply.body.includes('community image')).length;

    const round = (summary: ReturnType<typeof summarize>) =>
      Object.fromEntries(Object.entries(summary).map(([key, value]) => [key, typeof value === 'number' ? Math.round(value * 100) / 100 : value]));
    console.log(
      JSON.stringify(
        {
          engine: ENGINE,
          specBytes: spec.length,
          judgedOneAtATimeMs: round(summarize(judged)),
          dockerPsAloneMs: round(summarize(alone)),
          dockerPsWithSpecsInFlightMs: round(summarize(loaded)),
          specsInFlight: IN_FLIGHT,
          allSpecsAnsweredMs: Math.round(allSpecsMs),
          specsDeniedByPlugin: denied,
          pluginPeakRssMb: Math.round(peakRssMb(engine.plugin!.process.pid)),
        },
        null,
        2,
      ),
    );
  } finally {
    await engine.stop();
  }
}

void main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
