/**
 * The audit log: one JSON line per image decision, for a SIEM to collect. Size-bounded: when the next line would
 * take the file past `maxBytes`, it becomes FILE.1 (FILE.1 becomes FILE.2, ...) and only `keepFiles` of those are
 * kept. Writes are synchronous appends: a decision's line is written (to the page cache; no fsync) before the daemon
 * hears the verdict, each record whole or not at all, and a write failure is logged, never thrown, so auditing cannot
 * block a pull. Records that could not be written are counted and reported once the file is writable again.
 */
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DecisionEvent, DecisionObserver } from '../observability/events';
import { lastMade } from '../last-made';
import { isoTimes } from './iso-time';
import type { Logger } from './logger';

export interface AuditLogOptions {
  readonly path: string;
  readonly maxBytes: number;
  /** Rotated files kept beside the live one (FILE.1 .. FILE.N); 0 keeps none. */
  readonly keepFiles: number;
  /** Host name recorded on every line, so lines from a fleet can be told apart. */
  readonly host: string;
  readonly logger: Logger;
}

/** A record's time and its policy's fetch time: each its own, the second the same on pull after pull. */
const isoTime = isoTimes();
const isoFetchedAt = isoTimes();

/** `,"name":value` as JSON.stringify writes a property after the first; nothing for undefined, which it leaves out. */
function property(name: string, value: string | number | null | undefined): string {
  return value === undefined ? '' : `,"${name}":${JSON.stringify(value)}`;
}

/*
 * The audit line is written before the verdict, on a cold CPU at daemon pace (make bench), and most of its fields
 * repeat pull after pull: who pulls, the outcome for an image, the policy in force. Each run of them is kept as text,
 * made again when one of its values changes; only the time, the image and the latency are serialised per record.
 */
const whoText = lastMade(
  (host: string, user: string | undefined, identitySource: string | undefined, organization: string | undefined) =>
    property('host', host) + property('user', user ?? null) + property('identitySource', identitySource) + property('organization', organization ?? null),
);
const outcomeText = lastMade(
  (category: string, decision: string, rule: string, reason: string) =>
    property('category', category) + property('decision', decision) + property('rule', rule) + property('reason', reason),
);
const policyText = lastMade(
  (source: string | undefined, fetchedAt: number | undefined, version: string | undefined, stale: string | undefined, mode: string, via: string) =>
    property('policySource', source ?? null) +
    property('policyFetchedAt', fetchedAt === undefined ? null : isoFetchedAt(fetchedAt)) +
    property('policyVersion', version ?? null) +
    property('policyStale', stale) +
    property('mode', mode) +
    property('via', via),
);

/**
 * The audit record: explicit fields only, so nothing else an event might carry can leak into the file; the same text
 * as JSON.stringify of those fields in this order.
 */
export function auditLine(event: DecisionEvent, host: string): string {
  return (
    `{"time":${JSON.stringify(isoTime(event.time))}` +
    whoText(host, event.user, event.identitySource, event.organization) +
    property('image', event.image) +
    outcomeText(event.category, event.decision, event.rule, event.reason) +
    policyText(event.policySource, event.policyFetchedAt, event.policyVersion, event.policyStale, event.mode, event.via ?? 'authz') +
    `${property('latencyMs', Math.round(event.latencyMs * 1000) / 1000)}}\n`
  );
}

/** Lines in an audit file may name users and images: readable by root and its group (a log shipper), nobody else. */
const FILE_MODE = 0o640;
const NEWLINE = 0x0a;
const DIRECTORY_MODE = 0o750;

export class AuditLog implements DecisionObserver {
  private fd: number | undefined;
  private size = 0;
  /** Records not written since the log stopped being writable; one error line per failure streak, not one per pull. */
  private lost = 0;
  private failingSince: number | undefined;
  /** A failed write whose fragment could not be cut off: the next record starts on a line of its own. */
  private brokenTail = false;

  constructor(private readonly options: AuditLogOptions) {}

  /** Whether the last record was written (or none was due yet): while not, an allowed image's log line is its only record. */
  get recording(): boolean {
    return this.failingSince === undefined;
  }

  decided(event: DecisionEvent): void {
    this.append(auditLine(event, this.options.host), event.time);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private append(line: string, time: number): void {
    try {
      if (this.fd === undefined) this.open();
      const length = Buffer.byteLength(line, 'utf8');
      if (this.size > 0 && this.size + length > this.options.maxBytes) this.rotate();
      if (this.brokenTail) this.writeWhole(`\n${line}`, length + 1);
      else this.writeWhole(line, length);
      this.brokenTail = false;
      if (this.failingSince !== undefined) {
        this.options.logger.warn('audit log writable again; records were lost while it was not', {
          path: this.options.path,
          lostRecords: this.lost,
          since: new Date(this.failingSince).toISOString(),
        });
      }
      this.failingSince = undefined;
      this.lost = 0;
    } catch (error) {
      this.close();
      if (this.failingSince === undefined) {
        this.options.logger.error('cannot write the audit log; decisions go unaudited until it is writable', {
          path: this.options.path,
          error: (error as NodeJS.ErrnoException).code ?? String(error),
        });
      }
      this.failingSince ??= time;
      this.lost++;
    }
  }

  /**
   * Appends the whole record or nothing: a full disk takes part of a write (a short write, then ENOSPC), and the
   * fragment is cut off again, so the file never holds half a record for the next one to be glued onto. The text is
   * written as it is, not first copied into a Buffer (a fifth of the audit line's cost at daemon pace): only a short
   * write needs its bytes, to go on from where it stopped.
   */
  private writeWhole(line: string, length: number): void {
    const fd = this.fd!;
    let written = 0;
    try {
      written = writeSync(fd, line);
      if (written < length) {
        const bytes = Buffer.from(line, 'utf8');
        while (written < length) {
          const wrote = writeSync(fd, bytes, written);
          if (wrote === 0) throw Object.assign(new Error('no progress writing the audit log'), { code: 'EIO' });
          written += wrote;
        }
      }
    } catch (error) {
      if (written > 0) this.cutOff(fd, written);
      throw error;
    }
    this.size += written;
  }

  /** Removes the last `bytes` of the file: an append (O_APPEND) put them there. */
  private cutOff(fd: number, bytes: number): void {
    try {
      ftruncateSync(fd, fstatSync(fd).size - bytes);
    } catch {
      this.brokenTail = true;
    }
  }

  private open(): void {
    // A first start on a bare host (or a managed plugin's fresh state directory) has no directory for the file yet.
    mkdirSync(dirname(this.options.path), { recursive: true, mode: DIRECTORY_MODE });
    this.fd = openSync(this.options.path, 'a+', FILE_MODE);
    this.size = fstatSync(this.fd).size;
    // A fragment left by an earlier failure that could not be cut off: never glue a record onto it.
    if (this.size > 0) {
      const last = Buffer.alloc(1);
      readSync(this.fd, last, 0, 1, this.size - 1);
      if (last[0] !== NEWLINE) this.brokenTail = true;
    }
  }

  private rotate(): void {
    this.close();
    const { path, keepFiles } = this.options;
    if (keepFiles === 0) rmSync(path, { force: true });
    // rename replaces the target: FILE.N-1 overwrites the oldest, FILE.N.
    for (let n = keepFiles - 1; n >= 0; n--) renameIfPresent(n === 0 ? path : `${path}.${n}`, `${path}.${n + 1}`);
    this.open();
  }
}

function renameIfPresent(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
