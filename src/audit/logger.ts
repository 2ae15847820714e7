import type { LogLevel, LogStreams } from '../config/settings';

/** Fields of a log line besides its level and message. */
export type LogFields = object;
type LogMethod = (message: string, fields?: LogFields) => void;

/** What the plugin logs through; a winston logger fits it too (the tests capture lines with one). */
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

/**
 * JSON lines on stderr, or split by level: dockerd copies a managed plugin's stdout into its log at level=info and its
 * stderr at level=error (moby plugin/manager.go makeLoggerStreams), whatever a line says. Written here rather than
 * through a logging library: one was a fifth of start-up and ~10 MiB of the resident process for this one format
 * (`{...fields, "level", "message", "timestamp"}`, as winston's json format wrote it).
 */
export function createLogger(level: LogLevel, streams: LogStreams = 'stderr'): Logger {
  const threshold = SEVERITY[level];
  const log = (lineLevel: LogLevel, message: string, fields?: LogFields) => {
    if (SEVERITY[lineLevel] > threshold) return;
    const redacted: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(fields ?? {})) redacted[key] = SECRET_KEY.test(key) ? REDACTED : redact(item);
    const joined = typeof redacted['message'] === 'string' ? `${message} ${redacted['message']}` : message;
    const line = stringify({ ...redacted, level: lineLevel, message: joined, timestamp: new Date().toISOString() });
    const out = streams === 'split' && SEVERITY[lineLevel] > SEVERITY.warn ? process.stdout : process.stderr;
    out.write(`${line}\n`);
  };
  return {
    log,
    error: (message, fields) => log('error', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    info: (message, fields) => log('info', message, fields),
    debug: (message, fields) => log('debug', message, fields),
  };
}

/** A logger that drops everything: for unit tests and the bench. */
export function silentLogger(): Logger {
  const drop = () => undefined;
  return { log: drop, error: drop, warn: drop, info: drop, debug: drop };
}
