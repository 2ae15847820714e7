import { request } from 'node:http';
import { createServer } from 'node:net';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it returns true; throws with `what` and the last error after `timeoutMs`.
 * `abort` ends the wait early (e.g. the process being waited for has exited).
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 100, abort }: { timeoutMs?: number; intervalMs?: number; abort?: () => string | undefined } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = (error as Error).message;
    }
    const aborted = abort?.();
    if (aborted) throw new Error(`${what}: ${aborted}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (${lastError})` : ''}`);
    await sleep(intervalMs);
  }
}

/** A port free on 127.0.0.1 right now. Callers retry on a clash: another process may take it before they bind. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpReply {
  readonly status: number;
  readonly body: string;
}

/** One HTTP request over TCP (`url`) or a unix socket (`socketPath` + path), bounded by `timeoutMs`. */
export function httpRequest(
  target: { url: string } | { socketPath: string; path: string },
  { method = 'GET', body, headers = {}, timeoutMs = 5_000 }: { method?: string; body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const where =
      'url' in target
        ? (({ hostname, port, pathname, search }) => ({ hostname, port, path: pathname + search }))(new URL(target.url))
        : { socketPath: target.socketPath, path: target.path };
    const req = request({ ...where, method, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
