import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sleep, startEngine, waitUntil, type DockerResult, type Engine } from '../harness';

/**
 * `systemctl restart image-access` (an upgrade) while developers work: the plugin is restarted under a load of
 * concurrent `docker pull` and API calls, each time while pulls are waiting for their decision (the new process's
 * first policy fetch is slow on purpose), and no docker command may fail. The stopping process answers the
 * decisions in flight before it exits; calls made meanwhile find no socket and dockerd re-sends them, whole, to the
 * next process. (Before: the stop dropped the calls in flight, dockerd re-sent them with an empty body, and the new
 * process denied them: `docker pull alpine` failed.)
 */
jest.setTimeout(300_000);

const POLICY = JSON.stringify({
  organization: 'acme',
  restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: true },
});
/** Long enough that every restart finds pulls waiting on it; well within the decision timeout. */
const POLICY_DELAY_MS = 1_500;
const RESTARTS = 3;
const PULLERS = 4;
const API_CALLERS = 2;

/**
 * A policy URL that answers after POLICY_DELAY_MS, and tells how many of its requests made since a time are waiting
 * (a stopped process's fetch still waits here until its delay is over).
 */
function startSlowPolicyServer(): Promise<{ server: Server; url: string; waiting: (since: number) => number }> {
  const waiting = new Set<{ readonly started: number }>();
  const server = createServer((_req, res) => {
    const request = { started: Date.now() };
    waiting.add(request);
    setTimeout(() => {
      waiting.delete(request);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(POLICY);
    }, POLICY_DELAY_MS);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}/acme.json`, waiting: (since) => [...waiting].filter(({ started }) => started >= since).length });
    });
  });
}

describe('restarting the plugin under load', () => {
  let engine: Engine | undefined;
  let policy: Awaited<ReturnType<typeof startSlowPolicyServer>> | undefined;

  beforeAll(async () => {
    policy = await startSlowPolicyServer();
    engine = await startEngine({
      plugin: {
        env: {
          IMAGE_ACCESS_POLICY: policy.url,
          IMAGE_ACCESS_ORG: 'acme',
          IMAGE_ACCESS_REQUIRE_SIGNIN: 'off',
          IMAGE_ACCESS_DECISION_TIMEOUT: '10s',
        },
      },
    });
  });

  afterAll(async () => {
    await engine?.stop();
    await new Promise((resolve) => policy?.server.close(resolve));
  });

  it('fails no docker command, and no call reaches the plugin empty', async () => {
    const results: Array<{ command: string; result: DockerResult }> = [];
    let loading = true;
    const loop = async (command: readonly string[]) => {
      while (loading) results.push({ command: command.join(' '), result: await engine!.docker(command, { timeoutMs: 90_000 }) });
    };
    const load = [
      ...Array.from({ length: PULLERS }, () => loop(['pull', '-q', 'alpine'])),
      ...Array.from({ length: API_CALLERS }, () => loop(['ps', '-a'])),
    ];
    let restartedWithPullsWaiting = 0;
    try {
      let since = 0;
      for (let restart = 0; restart < RESTARTS; restart++) {
        // This process's first policy fetch is under way: pulls are waiting for their decision right now.
        await waitUntil('pulls waiting for the policy', async () => policy!.waiting(since) > 0, { timeoutMs: 60_000, intervalMs: 20 });
        await sleep(POLICY_DELAY_MS / 3);
        if (policy!.waiting(since) > 0) restartedWithPullsWaiting++;
        since = Date.now();
        await engine!.plugin!.restart();
      }
      await sleep(2_000);
    } finally {
      loading = false;
      await Promise.all(load);
    }

    const failed = results.filter(({ result }) => result.code !== 0).map(({ command, result }) => `docker ${command}: ${result.stderr.trim()}`);
    expect(failed).toEqual([]);
    expect(restartedWithPullsWaiting).toBe(RESTARTS);
    expect(results.filter(({ command }) => command.startsWith('pull')).length).toBeGreaterThanOrEqual(PULLERS * RESTARTS);
    const log = engine!.plugin!.logLines();
    expect(log.filter((line) => String(line['message']).startsWith('AuthZReq without a body'))).toEqual([]);
    expect(log.filter((line) => line['message'] === 'shutting down')).toHaveLength(RESTARTS);
  });
});
