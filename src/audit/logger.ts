import winston from 'winston';
import type { LogLevel, LogStreams } from '../config/settings';

export type Logger = winston.Logger;

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

const redactSecrets = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEY.test(key)) info[key] = REDACTED;
    else info[key] = redact(info[key]);
  }
  return info;
});

/**
 * JSON lines on stderr, or split by level: dockerd copies a managed plugin's stdout into its log at level=info and its
 * stderr at level=error (moby plugin/manager.go makeLoggerStreams), whatever a line says.
 */
export function createLogger(level: LogLevel, streams: LogStreams = 'stderr'): Logger {
  const stderrLevels = streams === 'split' ? ['error', 'warn'] : ['error', 'warn', 'info', 'debug'];
  return winston.createLogger({
    level,
    format: winston.format.combine(redactSecrets(), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels })],
  });
}

/** A logger that drops everything: for unit tests and the bench. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
