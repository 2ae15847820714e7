/**
 * Decision latency of cached pulls while Docker Hub answers in 10 s (issue 12): the policy, membership and badges are
 * fetched once while the stand-in Hub is healthy, then it turns slow and pulls go on for DURATION_MS with a short
 * cache TTL, so values expire and are refreshed while pulls keep coming (50 a second). In process, no daemon.
 *
 * Usage: npx tsc -p bench/tsconfig.json && node bench/dist/bench/slow-hub.js
 * Prints one JSON line: decisions, p50/p99/max in ms, and the share over 1 s.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/audit/logger';
import { loadSettings } from '../src/config/settings';
import { parseAuthZRequest } from '../src/protocol/wire';
import { createPluginCore } from '../src/run';
import { startStandInHub } from '../test/hub';
import { summarize } from './stats';

const DURATION_MS = 20_000;
const PULLS_PER_SECOND = 50;
const NAMESPACES = 20;
const MEMBER = { username: 'dev', password: 'bench-password' };

const pull = (namespace: string) =>
  JSON.stringify({ RequestMethod: 'POST', RequestUri: `/v1.41/images/create?fromImage=${namespace}%2Fapp&tag=1.0` });

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ia-slow-hub-'));
  const hub = await startStandInHub({
    users: [{ username: MEMBER.username, secrets: [MEMBER.password] }],
    orgs: [{ orgname: 'acme', members: { [MEMBER.username]: 'Member' }, settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true } }],
  });
  try {
    const config = join(dir, 'docker-config');
    mkdirSync(config);
    const auth = Buffer.from(`${MEMBER.username}:${MEMBER.password}`).toString('base64');
    writeFileSync(join(config, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth } } }));
    const settings = loadSettings(
      {
        IMAGE_ACCESS_POLICY: 'hub',
        IMAGE_ACCESS_HUB_URL: hub.url,
        IMAGE_ACCESS_ORG: 'acme',
        IMAGE_ACCESS_DOCKER_CONFIG: config,
        IMAGE_ACCESS_REGISTRY_JSON: '',
        IMAGE_ACCESS_CACHE_TTL: '2s',
        IMAGE_ACCESS_DECISION_TIMEOUT: '5s',
        IMAGE_ACCESS_LOG_LEVEL: 'error',
      },
      [],
    );
    const clock = () => performance.timeOrigin + performance.now();
    const core = createPluginCore(settings, createLogger('error'), clock);
    const requests = Array.from({ length: NAMESPACES }, (_, n) => {
      const parsed = parseAuthZRequest(pull(`ns${n}`));
      if (!parsed.ok) throw new Error(parsed.error);
      return parsed.request;
    });
    for (const request of requests) await core.authorizer.authorizeRequest(request);

    hub.fail('all', { kind: 'slow', delayMs: 10_000 });
    // Pulls arrive at a steady rate, as from a busy CI host, whether or not earlier ones have their answer.
    const latencies: number[] = [];
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < (DURATION_MS / 1000) * PULLS_PER_SECOND; i++) {
      const started = performance.now();
      pending.push(Promise.resolve(core.authorizer.authorizeRequest(requests[i % NAMESPACES]!)).then(() => void latencies.push(performance.now() - started)));
      await new Promise((resolve) => setTimeout(resolve, 1000 / PULLS_PER_SECOND));
    }
    await Promise.all(pending);
    const { count, p50, p99, max } = summarize(latencies);
    const overOneSecond = latencies.filter((ms) => ms > 1_000).length / count;
    process.stdout.write(`${JSON.stringify({ decisions: count, p50, p99, max, overOneSecond })}\n`);
    core.close();
  } finally {
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().then(() => process.exit(0));
