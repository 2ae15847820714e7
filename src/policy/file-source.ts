import { closeSync, fstatSync, openSync, promises as fs, readSync, unwatchFile, watchFile } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Logger } from '../audit/logger';
import { parsePolicyText, type Badge, type OrgPolicy } from './policy';
import type { PolicySource, PolicyView } from './source';

/** A policy that carries its own badge catalogue: the embedded default and policy files. */
export function catalogueBadge(namespace: string, view: PolicyView): Badge | undefined {
  return view.policy.badges.get(namespace);
}

export function staticSource(policy: OrgPolicy, describe: string, now: number): PolicySource {
  const view: PolicyView = { policy, source: describe, fetchedAt: now };
  return { describe, policyFor: () => view, badgeOf: catalogueBadge, close: () => undefined };
}

export class PolicyFileError extends Error {}

/**
 * Largest policy file read: 1 MiB, as for a policy URL's reply (MAX_REPLY_BYTES), far above any real policy, and
 * small enough that parsing it cannot hold up replies. A larger file is refused without being read (a 100 MB file
 * once froze every reply for 19 s).
 */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;

/** The file's text, read up to one byte past the limit so that a file still growing cannot make us read more. */
function boundedText(path: string, size: number, buffer: Buffer, bytesRead: number): string {
  if (Math.max(size, bytesRead) > MAX_POLICY_FILE_BYTES) {
    throw new PolicyFileError(`${path} is larger than ${MAX_POLICY_FILE_BYTES} bytes (the limit for a policy file); refused`);
  }
  return buffer.subarray(0, bytesRead).toString('utf8');
}

const unreadable = (path: string, error: unknown) =>
  error instanceof PolicyFileError ? error : new PolicyFileError(`cannot read policy file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);

/** At start, before the socket exists: synchronous, bounded. */
function readPolicyTextSync(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const { size } = fstatSync(fd);
    const buffer = Buffer.alloc(Math.min(size, MAX_POLICY_FILE_BYTES) + 1);
    return boundedText(path, size, buffer, readSync(fd, buffer, 0, buffer.length, 0));
  } catch (error) {
    throw unreadable(path, error);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** On a change, while replies go on: the read is off the event loop; the parse is bounded by the size limit. */
async function readPolicyText(path: string): Promise<string> {
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(path, 'r');
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.min(size, MAX_POLICY_FILE_BYTES) + 1);
    return boundedText(path, size, buffer, (await handle.read(buffer, 0, buffer.length, 0)).bytesRead);
  } catch (error) {
    throw unreadable(path, error);
  } finally {
    await handle?.close();
  }
}

/** The file's policy, and a digest of its text that names this version of it. */
function parsePolicyFile(path: string, text: string): { policy: OrgPolicy; version: string } {
  const parsed = parsePolicyText(text);
  if (!parsed.ok) throw new PolicyFileError(`${path}: ${parsed.error}`);
  // node:crypto is required here, not before the plugin listens (the embedded policy never needs it).
  return { policy: parsed.policy, version: `sha256:${(require('node:crypto') as typeof import('node:crypto')).createHash('sha256').update(text).digest('hex').slice(0, 16)}` };
}

const WATCH_INTERVAL_MS = 1000;

/**
 * A policy file, read at start (a bad or oversized file stops the start with a clear error) and again whenever it
 * changes, asynchronously, one read at a time; a change that is refused leaves the last good policy in force and says
 * so in the log.
 */
export function fileSource(path: string, logger: Logger, clock: () => number): PolicySource {
  const describe = `file:${path}`;
  const toView = (text: string): PolicyView => ({ ...parsePolicyFile(path, text), source: describe, fetchedAt: clock() });
  let view = toView(readPolicyTextSync(path));
  let reloading: Promise<void> = Promise.resolve();
  const reload = async () => {
    try {
      view = toView(await readPolicyText(path));
      logger.info('policy file reloaded', { path, organization: view.policy.organization });
    } catch (error) {
      view = { ...view, stale: (error as Error).message };
      logger.error('policy file change rejected; keeping the last good policy', { path, error: (error as Error).message });
    }
  };
  watchFile(path, { interval: WATCH_INTERVAL_MS, persistent: false }, () => {
    reloading = reloading.then(reload);
  });
  return {
    describe,
    policyFor: () => view,
    badgeOf: catalogueBadge,
    close: () => unwatchFile(path),
  };
}
