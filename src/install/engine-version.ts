import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { z } from 'zod';

const versionReplySchema = z.object({ Version: z.string() });

export interface EngineVersion {
  readonly version: string;
  /** Where it was learnt, for the report. */
  readonly source: string;
}

/**
 * The Docker Engine's version: from the running daemon (`GET /version` on its socket), else from `dockerd --version`
 * (the daemon may be stopped). Resolves with a problem description when neither answers.
 */
export async function engineVersion(dockerSocket: string, timeoutMs: number): Promise<EngineVersion | string> {
  const fromApi = await versionFromApi(dockerSocket, timeoutMs);
  if (typeof fromApi !== 'string') return fromApi;
  const fromBinary = await versionFromBinary(timeoutMs);
  return typeof fromBinary === 'string' ? `the daemon on ${dockerSocket} did not tell (${fromApi}) and ${fromBinary}` : fromBinary;
}

function versionFromApi(socket: string, timeoutMs: number): Promise<EngineVersion | string> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, method: 'GET', path: '/version', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => resolve(error.message));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          json = undefined;
        }
        const reply = versionReplySchema.safeParse(json);
        resolve(reply.success ? { version: reply.data.Version, source: `the daemon on ${socket}` } : `HTTP ${res.statusCode ?? 0} without a version`);
      });
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(`no reply within ${timeoutMs} ms`);
    });
    req.on('error', (error) => resolve(error.message));
    req.end();
  });
}

/** `Docker version 20.10.24+dfsg1, build 297e128` */
function versionFromBinary(timeoutMs: number): Promise<EngineVersion | string> {
  return new Promise((resolve) => {
    execFile('dockerd', ['--version'], { timeout: timeoutMs }, (error, stdout) => {
      const version = /^Docker version ([^\s,]+)/.exec(stdout)?.[1];
      if (version) resolve({ version, source: '`dockerd --version`' });
      else resolve(`\`dockerd --version\` failed${error ? ` (${error.message})` : ''}`);
    });
  });
}
