import type winston from 'winston';
import type { LogLevel, LogStreams } from '../config/settings';
import { isoTimes } from './iso-time';

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

/** Field names are few and come back on every line (a decision line has 17): each is tested once. */
const secretNames = new Map<string, boolean>();
const NAMES_REMEMBERED = 1000;

function isSecretName(key: string): boolean {
  let secret = secretNames.get(key);
  if (secret === undefined) {
    secret = SECRET_KEY.test(key);
    if (secretNames.size < NAMES_REMEMBERED) secretNames.set(key, secret);
  }
  return secret;
}

function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = isSecretName(key) ? REDACTED : redact(item, depth + 1);
  return out;
}

/** A line whose fields are all plain values under names that hold no secret (a decision line) has nothing to redact. */
function needsRedaction(info: object): boolean {
  for (const key in info) {
    const value = (info as Record<string, unknown>)[key];
    if (isSecretName(key) || (typeof value === 'object' && value !== null)) return true;
  }
  return false;
}

const SEVERITY: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A line's `timestamp`: the time it is written. */
const isoNow = isoTimes();

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

/** The time a line was logged, when winston writes it later (a symbol: winston copies it, no format lists it). */
const LOGGED_AT = Symbol('logged at');

/**
 * Writes each formatted line at once, on the stream its level belongs to (winston's Console transport adds a
 * setImmediate per line).
 */
function lineWriter(split: boolean): winston.transport {
  const TransportStream = require('winston-transport') as typeof import('winston-transport');
  return new (class extends TransportStream {
    override log(info: { level: string; [MESSAGE]?: unknown }, logged: () => void): void {
      const out = split && (info.level === 'info' || info.level === 'debug') ? process.stdout : process.stderr;
      out.write(`${String(info[MESSAGE])}\n`);
      logged();
    }
  })();
}

/** The format's work on winston's record of a line: false drops it (below the level), else its text is set. */
function formatLine(info: winston.Logform.TransformableInfo, threshold: number): winston.Logform.TransformableInfo | false {
  const lineLevel = info.level as LogLevel;
  if (!(SEVERITY[lineLevel] <= threshold)) return false;
  const timestamp = (info as { [LOGGED_AT]?: string })[LOGGED_AT] ?? isoNow(Date.now());
  // Nothing to redact: the line is winston's own record (a copy of the fields made for this line) with its time.
  if (!needsRedaction(info)) {
    (info as Record<string, unknown>)['timestamp'] = timestamp;
    info[MESSAGE] = stringify(info);
    return info;
  }
  const record: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(info)) record[key] = isSecretName(key) ? REDACTED : redact(item);
  record['timestamp'] = timestamp;
  info[MESSAGE] = stringify(record);
  return info;
}

/**
 * A line whose fields are plain values under names that hold no secret and that winston would not set (a decision
 * line): the fields' own JSON with level, message and timestamp after them, which is what the format makes of winston's
 * copy of the fields, without the copy. Undefined for any other line.
 */
function plainLine(level: LogLevel, message: string, fields: LogFields): string | undefined {
  // Only a plain object serialises as the copy of its own fields would (an array, a URL or a class with toJSON do not).
  if (Object.getPrototypeOf(fields) !== Object.prototype) return undefined;
  if (needsRedaction(fields) || 'level' in fields || 'message' in fields || 'timestamp' in fields) return undefined;
  const json = stringify(fields as Record<string, unknown>);
  const tail = `"level":"${level}","message":${JSON.stringify(message)},"timestamp":"${isoNow(Date.now())}"}`;
  return json === '{}' ? `{${tail}` : `${json.slice(0, -1)},${tail}`;
}

/** winston's splat tokens: a message holding one has its fields dropped by winston's Logger.log (no splat format here). */
const SPLAT_TOKEN = '%';

/**
 * JSON lines on stderr, or split by level: dockerd copies a managed plugin's stdout into its log at level=info and its
 * stderr at level=error (moby plugin/manager.go makeLoggerStreams), whatever a line says. winston, with one format that
 * drops lines below the level before any work and serialises the rest once
 * (`{...fields, "level", "message", "timestamp"}`; winston has put the fields first and joined a `message` field to the
 * message). winston is required with the first line written, not when the logger is made. With `deferMs` (the plugin
 * process), the lines of its first `deferMs` are kept, in order with their time, and written then (or at exit), so a
 * starting plugin answers the daemon's first Activate without waiting for winston to load (a sixth of its start-up).
 *
 * A line goes from the record winston's Logger.log makes of it straight through the format to the transport: winston's
 * logger is an object stream (a Transform piped into each transport), whose dozen calls per line only hand the record
 * on, a third of what a decision line cost at daemon pace. Lines written before winston loads, and a message with a
 * splat token, still go through winston's logger.
 */
export function createLogger(level: LogLevel, streams: LogStreams = 'stderr', deferMs?: number): Logger {
  const threshold = SEVERITY[level];
  let loaded: { logger: winston.Logger; format: winston.Logform.Format; writer: winston.transport } | undefined;
  // Lines logged before winston is loaded (a starting plugin's few), in order, each with its time.
  const early: Array<[LogLevel, string, LogFields]> = [];
  const winstonLogger = (): NonNullable<typeof loaded> => {
    if (loaded !== undefined) return loaded;
    const winston = require('winston') as typeof import('winston');
    const format = winston.format((info) => formatLine(info, threshold))();
    const writer = lineWriter(streams === 'split');
    loaded = { logger: winston.createLogger({ level, levels: SEVERITY, format, transports: [writer] }), format, writer };
    process.removeListener('exit', winstonLogger);
    for (const [lineLevel, message, fields] of early.splice(0)) loaded.logger.log(lineLevel, message, fields);
    return loaded;
  };
  const written = () => undefined;
  const log = (lineLevel: LogLevel, message: string, fields?: LogFields) => {
    if (loaded === undefined && deferMs !== undefined) {
      if (SEVERITY[lineLevel] > threshold) return;
      if (early.length === 0) {
        setTimeout(winstonLogger, deferMs).unref();
        process.once('exit', winstonLogger);
      }
      early.push([lineLevel, message, { ...fields, [LOGGED_AT]: new Date().toISOString() }]);
      return;
    }
    const { logger, format, writer } = winstonLogger();
    if (message.includes(SPLAT_TOKEN)) return void logger.log(lineLevel, message, fields);
    if (SEVERITY[lineLevel] > threshold) return;
    const plain = fields === undefined ? undefined : plainLine(lineLevel, message, fields);
    if (plain !== undefined) return void writer.log!({ level: lineLevel, message, [MESSAGE]: plain }, written);
    // The record winston's Logger.log makes: the fields, then level and message, a `message` field joined to it.
    const info: winston.Logform.TransformableInfo = Object.assign({}, fields, { level: lineLevel, message });
    const joined = (fields as { message?: unknown } | undefined)?.message;
    if (joined) info.message = `${message} ${String(joined)}`;
    const formatted = format.transform(info, format.options);
    if (formatted !== false) writer.log!(formatted, written);
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
