import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTracked, type TrackedProcess } from './processes';
import { freePort, httpRequest, waitUntil } from './wait';

/** `docker-registry` on 127.0.0.1, standing in for Docker Hub as the daemon's registry mirror. */
export interface Registry {
  /** `127.0.0.1:PORT`: what `--registry-mirror` and `--insecure-registry` need. */
  readonly address: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly storageDir: string;
  readonly process: TrackedProcess;
  stop(): Promise<void>;
}

const PORT_ATTEMPTS = 5;

function writeConfig(dir: string, storageDir: string, port: number): string {
  const path = join(dir, 'registry.yml');
  writeFileSync(
    path,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  return path;
}

/** Starts a registry storing under `dir/registry`; retries on another port if the chosen one was taken meanwhile. */
export async function startRegistry(dir: string): Promise<Registry> {
  const storageDir = join(dir, 'registry');
  mkdirSync(storageDir, { recursive: true });
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    const config = writeConfig(dir, storageDir, port);
    const process = spawnTracked('registry', 'docker-registry', ['serve', config], { logDir: dir });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntil('docker-registry to answer GET /v2/', async () => (await httpRequest({ url: `${url}/v2/` })).status === 200, {
        timeoutMs: 20_000,
        abort: () => (process.isRunning() ? undefined : `docker-registry exited; see ${process.stderrPath}`),
      });
      return { address: `127.0.0.1:${port}`, url, storageDir, process, stop: () => process.stop() };
    } catch (error) {
      lastError = error as Error;
      await process.stop();
    }
  }
  throw lastError ?? new Error('docker-registry did not start');
}
