import winston from 'winston';
import TransportStream from 'winston-transport';
import type { LogLevel, LogStreams } from '../config/settings';

/** Where winston keeps a line's formatted text (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');

/** Fields of a log line besides its level and message. */
export type LogFields = object;
type LogMethod = (message: string, fields?: LogFields) => void;

/** What the plugin logs through: the winston logger below, or a test's capturing one. */
export interface Logger {
  readonly error: LogMethod;
  readonly warn: LogMethod;
  readonly info: LogMethod;
  readonly debug: LogMethod;
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

/** Keys whose values are secrets wherever they appear; a last line of defence, callers never log them. */
const SECRET_KEY = /pass(word)?|secret|token|^auth$|authorization|credential|x-registry-auth/i;
const REDACTED = '[redacted]';

function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? REDACTED : redact(item, depth + 1);
  return out;
}

const SEVERITY: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

/** JSON whatever the fields hold: a cycle or a bigint must cost a field, never the line (nor the process). */
function stringify(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(record, (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (typeof value !== 'object' || value === null) return value;
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
      return value;
    });
  }
}

/** Writes each formatted line at once, on the stream its level belongs to (winston's Console transport adds a setImmediate per line). */
class LineWriter extends TransportStream {
  constructor(private readonly split: boolean) {
    super();
  }

  override log(info: { level: string; [MESSAGE]?: unknown }, logged: () => void): void {
    const out = this.split && (info.level === 'info' || info.level === 'debug') ? process.stdout : process.stderr;
    out.write(`${String(info[MESSAGE])}\n`);
    logged();
  }
}

/**
 * JSON lines on stderr, or split by level: dockerd copies a managed plugin's stdout into its log at level=info and its
 * stderr at level=error (moby plugin/manager.go makeLoggerStreams), whatever a line says. winston, with one format that
 * drops lines below the level before any work and serialises the rest once
 * (`{...fields, "level", "message", "timestamp"}`; winston has put the fields first and joined a `message` field to the
 * message).
 */
export function createLogger(level: LogLevel, streams: LogStreams = 'stderr'): Logger {
  const threshold = SEVERITY[level];
  const line = winston.format((info) => {
    const lineLevel = info.level as LogLevel;
    if (!(SEVERITY[lineLevel] <= threshold)) return false;
    const record: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(info)) record[key] = SECRET_KEY.test(key) ? REDACTED : redact(item);
    record['timestamp'] = new Date().toISOString();
    info[MESSAGE] = stringify(record);
    return info;
  });
  return winston.createLogger({ level, levels: SEVERITY, format: line(), transports: [new LineWriter(streams === 'split')] });
}

/** A logger that drops everything: for unit tests and the bench. */
export function silentLogger(): Logger {
  const drop = () => undefined;
  return { log: drop, error: drop, warn: drop, info: drop, debug: drop };
}
