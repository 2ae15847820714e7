import { connect } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, PLUGIN_CLI, PLUGIN_NODE_FLAGS, REPO_ROOT, spawnTracked, httpRequest, type TrackedProcess } from '../harness';

/**
 * A daemon whose plugin is missing locks every docker command, so the plugin must be serving soon after it starts.
 * Measured from spawn to the first accepted connection and to the first Activate reply; the numbers are printed for
 * the record (timing claims belong to the benchmark), the test asserts that it does answer Activate.
 */
jest.setTimeout(60_000);

const connects = (socket: string) =>
  new Promise<boolean>((resolve) => {
    const probe = connect(socket);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });

test('the plugin process is serving its socket shortly after it starts', async () => {
  const dir = makeTempDir();
  const socket = join(dir, 'plugin.sock');
  const runs: Array<{ listening: number; activated: number }> = [];
  let plugin: TrackedProcess | undefined;
  try {
    for (let run = 0; run < 5; run++) {
      const started = process.hrtime.bigint();
      const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
      plugin = spawnTracked(`plugin-${run}`, process.execPath, [...PLUGIN_NODE_FLAGS, PLUGIN_CLI, 'run', '--socket', socket], {
        logDir: dir,
        cwd: REPO_ROOT,
        env: { ...process.env, IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_DOCKER_CONFIG: dir },
      });
      while (!(await connects(socket))) {
        expect(plugin.isRunning()).toBe(true);
        expect(elapsed()).toBeLessThan(20_000);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const listening = elapsed();
      const reply = await httpRequest({ socketPath: socket, path: '/Plugin.Activate' }, { method: 'POST', timeoutMs: 5_000 });
      runs.push({ listening, activated: elapsed() });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toEqual({ Implements: ['authz'] });
      await plugin.stop();
    }
  } finally {
    await plugin?.stop();
    removeTempDir(dir);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  process.stdout.write(
    `startup: socket accepting after median ${median(runs.map((r) => r.listening)).toFixed(0)} ms, Activate answered after ` +
      `median ${median(runs.map((r) => r.activated)).toFixed(0)} ms (runs: ${runs.map((r) => r.activated.toFixed(0)).join(', ')} ms)\n`,
  );
});
