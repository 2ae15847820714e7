/**
 * Decision latency in process: one AuthZReq body parsed and judged by the core `startPlugin` wires (identity, policy,
 * decision, observers, the decision log line: point stderr at a file). Its own process, so nothing else shares its heap.
 * Wall-clock time includes any moment the OS gave the CPU to another process; CPU time is the plugin's own cost.
 *
 * Usage: node decision-latency.js cached|cold ITERATIONS  (settings from the IMAGE_ACCESS_* environment)
 *   cached: the same core judges every request (policy, sign-in and badges cached after the first).
 *   cold:   a fresh core per request, so each pull fetches sign-in, organisation, policy and badge from the Hub.
 * Prints one JSON line of {wall, cpu} summaries in milliseconds.
 */
import { createLogger } from '../src/audit/logger';
import { loadSettings } from '../src/config/settings';
import { createObservability } from '../src/observability/observability';
import { parseAuthZRequest } from '../src/protocol/wire';
import { createPluginCore, type PluginCore } from '../src/run';
import { PING, PULL_ALLOWED, PULL_DENIED } from './authz-requests';
import { summarize, type Summary } from './stats';

export interface Timed {
  readonly wall: Summary;
  readonly cpu: Summary;
}

const settings = loadSettings(process.env, []);
const logger = createLogger(settings.logLevel);
const clock = () => performance.timeOrigin + performance.now();

function createCore(): PluginCore {
  // The observers too (metrics, audit log): they run on every decision in the plugin.
  const { observers } = createObservability(settings, logger, clock);
  return createPluginCore(settings, logger, clock, { observers });
}

async function timeDecisions(core: () => PluginCore, body: string, iterations: number, expectAllow: boolean): Promise<Timed> {
  const wall = new Float64Array(iterations);
  const cpu = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const { authorizer } = core();
    const startCpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    const parsed = parseAuthZRequest(body);
    if (!parsed.ok) throw new Error(parsed.error);
    const reply = await authorizer.authorizeRequest(parsed.request);
    wall[i] = Number(process.hrtime.bigint() - start) / 1e6;
    const usedCpu = process.cpuUsage(startCpu);
    cpu[i] = (usedCpu.user + usedCpu.system) / 1000;
    if (reply.Allow !== expectAllow) throw new Error(`unexpected verdict for ${body}: ${JSON.stringify(reply)}`);
  }
  return { wall: summarize(wall), cpu: summarize(cpu) };
}

async function cached(iterations: number): Promise<Record<string, Timed>> {
  const shared = createCore();
  const core = () => shared;
  // Warm-up: let V8 optimise the hot path before anything is recorded.
  await timeDecisions(core, PULL_ALLOWED, 20_000, true);
  return {
    pullAllowed: await timeDecisions(core, PULL_ALLOWED, iterations, true),
    pullDenied: await timeDecisions(core, PULL_DENIED, iterations, false),
    passthrough: await timeDecisions(core, PING, iterations, true),
  };
}

async function cold(iterations: number): Promise<Record<string, Timed>> {
  let previous: PluginCore | undefined;
  const fresh = () => {
    previous?.close();
    previous = createCore();
    return previous;
  };
  await timeDecisions(fresh, PULL_DENIED, 20, false);
  return { pullDenied: await timeDecisions(fresh, PULL_DENIED, iterations, false) };
}

/** Exits once the line is out: stdout is a pipe, and process.exit would cut an unflushed write short. */
const exitAfter = (line: object, code: number) => process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(code));

const [mode, iterations] = [process.argv[2], Number(process.argv[3] ?? 10_000)];
(mode === 'cold' ? cold(iterations) : cached(iterations)).then(
  (result) => exitAfter(result, 0),
  (error: unknown) => exitAfter({ error: String(error) }, 1),
);
