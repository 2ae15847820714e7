import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { spawnTracked, type TrackedProcess } from './processes';
import { freePort, httpRequest, waitUntil } from './wait';

/** `docker-registry` on 127.0.0.1, standing in for Docker Hub as the daemon's registry mirror. */
export interface Registry {
  /** `127.0.0.1:PORT`: what `--registry-mirror` and `--insecure-registry` need. */
  readonly address: string;
  /** `http://127.0.0.1:PORT` (`https://` with `tls`). */
  readonly url: string;
  readonly storageDir: string;
  readonly process: TrackedProcess;
  stop(): Promise<void>;
}

const PORT_ATTEMPTS = 5;

export interface RegistryOptions {
  /** Serve HTTPS with this PEM certificate and key (Docker Hub's endpoint is TLS): for transfer benchmarks. */
  readonly tls?: { readonly certificate: string; readonly key: string };
  /** Serve what is already stored there (e.g. seeded through another registry): default `dir/registry`. */
  readonly storageDir?: string;
}

function writeConfig(dir: string, storageDir: string, port: number, tls: RegistryOptions['tls']): string {
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
      ...(tls === undefined ? [] : ['  tls:', `    certificate: ${tls.certificate}`, `    key: ${tls.key}`]),
      '',
    ].join('\n'),
  );
  return path;
}

/** Whether a TLS server answers a handshake on `port` (its certificate is not what is checked here). */
function handshakes(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Starts a registry storing under `dir/registry`; retries on another port if the chosen one was taken meanwhile. */
export async function startRegistry(dir: string, options: RegistryOptions = {}): Promise<Registry> {
  const storageDir = options.storageDir ?? join(dir, 'registry');
  mkdirSync(storageDir, { recursive: true });
  mkdirSync(dir, { recursive: true });
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    const config = writeConfig(dir, storageDir, port, options.tls);
    const process = spawnTracked('registry', 'docker-registry', ['serve', config], { logDir: dir });
    const url = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
    const answers = options.tls === undefined ? async () => (await httpRequest({ url: `${url}/v2/` })).status === 200 : () => handshakes(port);
    try {
      await waitUntil('docker-registry to answer', answers, {
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
