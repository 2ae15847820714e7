/** Shared pieces of the identity unit tests: a log that can be read back, AuthZ requests, temp dirs, helper scripts. */
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../src/audit/logger';
import type { AuthZRequest } from '../../src/protocol/wire';

/**
 * A logger writing JSON lines into memory. Deliberately without the production redaction, so a test that scans it
 * proves the code never hands a secret to the logger at all.
 */
export function capturingLogger(): { logger: Logger; text(): string; lines(): Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

export function authzRequest(headers: Record<string, string> = {}, user = ''): AuthZRequest {
  return {
    user,
    userAuthNMethod: user === '' ? '' : 'TLS',
    requestMethod: 'POST',
    requestUri: '/v1.41/images/create?fromImage=someone%2Fapp&tag=1.0',
    requestBody: '',
    requestHeaders: headers,
    responseStatusCode: 0,
  };
}

/** `X-Registry-Auth` as the CLI encodes it (base64url JSON). */
export const registryAuthHeader = (config: object): string => Buffer.from(JSON.stringify(config)).toString('base64url');

/** `auth` as config.json stores it. */
export const basicAuth = (username: string, secret: string): string => Buffer.from(`${username}:${secret}`).toString('base64');

/** Temp directories removed after the suite. */
export function tempDirs(): { make(): string; removeAll(): void } {
  const made: string[] = [];
  return {
    make() {
      const dir = mkdtempSync(join(tmpdir(), 'ia-identity-'));
      made.push(dir);
      return dir;
    },
    removeAll() {
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a file the way `docker login` does: a temp file renamed over the old one. */
export function replaceFile(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content);
  renameSync(`${path}.tmp`, path);
}

/** Puts an executable `docker-credential-<name>` shell script into `dir`. */
export function writeCredentialHelper(dir: string, name: string, script: string): string {
  const path = join(dir, `docker-credential-${name}`);
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}
