import { closeSync, constants, copyFileSync, fsyncSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseDaemonConfig, type DaemonConfig } from './daemon-config';
import { InstallError } from './install-io';

/** A file's text (daemon.json, a drop-in), or undefined when there is no such file yet. */
export function readOptionalFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** daemon.json parsed for editing; one dockerd could not read either is refused, never rewritten. */
export function readDaemonConfig(path: string): DaemonConfig {
  const parsed = parseDaemonConfig(readOptionalFile(path));
  if (!parsed.ok) throw new InstallError(`refusing to edit ${path}: ${parsed.error}. Fix it by hand first; dockerd cannot start with it either.`);
  return parsed.config;
}

/** `2025-11-25T23:05:00.123Z` -> `20251125T230500Z`: sortable and safe in a file name. */
const compactTimestamp = (now: Date): string => now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/** Timestamped backups kept beside daemon.json; older ones are removed. The file as it was first found is kept apart. */
export const KEPT_BACKUPS = 5;
/** Suffix of the copy of daemon.json as it was before image-access first changed it: never replaced, never pruned. */
export const ORIGINAL_SUFFIX = '.before-image-access';

/** Copies `from` to `to`, or to `to-2`, `to-3`... when taken (two edits in one second): a backup never replaces one. */
function copyToFreeName(from: string, to: string): string {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? to : `${to}-${n}`;
    try {
      copyFileSync(from, candidate, constants.COPYFILE_EXCL);
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** Our backup names' tails: the compact timestamp, and `-N` for a second backup in the same second. */
const BACKUP_TAIL = /^(\d{8}T\d{6}Z)(?:-(\d+))?$/;

/** Removes all but the newest KEPT_BACKUPS of our `daemon.json.bak-<time>` files; anyone else's files are left alone. */
function pruneBackups(path: string): void {
  const prefix = `${basename(path)}.bak-`;
  const ours = readdirSync(dirname(path)).flatMap((name) => {
    const tail = name.startsWith(prefix) ? BACKUP_TAIL.exec(name.slice(prefix.length)) : null;
    return tail ? [{ name, stamp: tail[1]!, n: Number(tail[2] ?? 1) }] : [];
  });
  const byAge = ours.sort((a, b) => (a.stamp === b.stamp ? a.n - b.n : a.stamp < b.stamp ? -1 : 1)).map((backup) => backup.name);
  for (const name of byAge.slice(0, Math.max(0, byAge.length - KEPT_BACKUPS))) rmSync(join(dirname(path), name), { force: true });
}

/**
 * Replaces daemon.json atomically, keeping its mode, after copying the previous version beside it. Returns the
 * backup's path, or undefined when there was no previous file.
 */
export function writeDaemonJson(linkOrPath: string, text: string, now: Date): string | undefined {
  const previous = statSync(linkOrPath, { throwIfNoEntry: false });
  // A daemon.json that is a symlink (configuration tools do that) keeps being one: its target is replaced.
  const path = previous ? realpathSync(linkOrPath) : linkOrPath;
  let backup: string | undefined;
  if (previous) {
    try {
      copyFileSync(path, `${path}${ORIGINAL_SUFFIX}`, constants.COPYFILE_EXCL);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    backup = copyToFreeName(path, `${path}.bak-${compactTimestamp(now)}`);
    pruneBackups(path);
  }
  replaceFile(path, text, previous ? previous.mode & 0o7777 : 0o644);
  return backup;
}

/** Writes `path` through a temporary file renamed over it: a daemon starting mid-write never reads half a file. */
export function replaceFile(path: string, text: string, mode: number): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
}
