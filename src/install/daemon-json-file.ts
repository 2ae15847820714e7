import { closeSync, copyFileSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** daemon.json's text, or undefined when there is no such file yet. */
export function readDaemonJson(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** `2025-11-25T23:05:00.123Z` -> `20251125T230500Z`: sortable and safe in a file name. */
const compactTimestamp = (now: Date): string => now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/**
 * Replaces daemon.json atomically (a daemon starting mid-write never reads half a file), keeping its mode, after
 * copying the previous version beside it. Returns the backup's path, or undefined when there was no previous file.
 */
export function writeDaemonJson(linkOrPath: string, text: string, now: Date): string | undefined {
  const previous = statSync(linkOrPath, { throwIfNoEntry: false });
  // A daemon.json that is a symlink (configuration tools do that) keeps being one: its target is replaced.
  const path = previous ? realpathSync(linkOrPath) : linkOrPath;
  const backup = previous ? `${path}.bak-${compactTimestamp(now)}` : undefined;
  if (backup) copyFileSync(path, backup);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w', previous ? previous.mode & 0o7777 : 0o644);
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
  return backup;
}
