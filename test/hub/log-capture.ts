import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../src/audit/logger';

/**
 * A logger that keeps every line in memory as JSON. It does not redact: a secret scan over it catches code that
 * logs a secret even where the production logger would have hidden it.
 */
export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown>>;
  /** Everything logged, as one string: what a secret scan reads. */
  text(): string;
  /** Lines with this level and message. */
  find(level: string, message: string): Array<Record<string, unknown>>;
}

export function captureLog(): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return {
    logger,
    lines,
    text: () => lines.map((line) => JSON.stringify(line)).join('\n'),
    find: (level, message) => lines.filter((line) => line['level'] === level && line['message'] === message),
  };
}
