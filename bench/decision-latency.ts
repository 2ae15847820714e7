/**
 * Decision latency in process: one AuthZReq body parsed and judged by the core `startPlugin` wires, including
 * the decision log line (point stderr at a file). Runs in its own process so nothing else shares its heap or core.
 *
 * Usage: node decision-latency.js ITERATIONS   (settings from the IMAGE_ACCESS_* environment, as the plugin reads them)
 * Prints one JSON line: {pullAllowed, pullDenied, passthrough} summaries in milliseconds.
 */
import { createLogger } from '../src/audit/logger';
import type { Authorizer } from '../src/authorizer';
import { loadSettings } from '../src/config/settings';
import { createObservability } from '../src/observability/observability';
import { parseAuthZRequest } from '../src/protocol/wire';
import { createPluginCore } from '../src/run';
import { PING, PULL_ALLOWED, PULL_DENIED } from './authz-requests';
import { summarize, type Summary } from './stats';

async function timeDecisions(authorizer: Authorizer, body: string, iterations: number, expectAllow: boolean): Promise<Summary> {
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    const parsed = parseAuthZRequest(body);
    if (!parsed.ok) throw new Error(parsed.error);
    const reply = await authorizer.authorizeRequest(parsed.request);
    samples[i] = Number(process.hrtime.bigint() - start) / 1e6;
    if (reply.Allow !== expectAllow) throw new Error(`unexpected verdict for ${body}: ${JSON.stringify(reply)}`);
  }
  return summarize(samples);
}

async function main(): Promise<object> {
  const iterations = Number(process.argv[2] ?? 100_000);
  const settings = loadSettings(process.env, []);
  const logger = createLogger(settings.logLevel);
  const clock = () => performance.timeOrigin + performance.now();
  // The observers too (metrics, audit log): they run on every decision in the plugin.
  const { observers } = createObservability(settings, logger, clock);
  const { authorizer } = createPluginCore(settings, logger, clock, { observers });
  // Warm-up: let V8 optimise the hot path before anything is recorded.
  await timeDecisions(authorizer, PULL_ALLOWED, 20_000, true);
  const result = {
    pullAllowed: await timeDecisions(authorizer, PULL_ALLOWED, iterations, true),
    pullDenied: await timeDecisions(authorizer, PULL_DENIED, iterations, false),
    passthrough: await timeDecisions(authorizer, PING, iterations, true),
  };
  return result;
}

/** Exits once the line is out: stdout is a pipe, and process.exit would cut an unflushed write short. */
const exitAfter = (line: object, code: number) => process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(code));

main().then(
  (result) => exitAfter(result, 0),
  (error: unknown) => exitAfter({ error: String(error) }, 1),
);
