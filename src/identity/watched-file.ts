import { promises as fs, statSync } from 'node:fs';
import type { MaybeAsync } from '../maybe-async';

/** Larger than any real Docker config or registry.json; a bigger file is refused rather than read. */
const MAX_FILE_BYTES = 1024 * 1024;

export type FileState<T> =
  | { readonly kind: 'missing' }
  | { readonly kind: 'unreadable'; readonly problem: string }
  | { readonly kind: 'ok'; readonly value: T };

export interface WatchedFile<T> {
  readonly path: string;
  /**
   * The file's current content, parsed; re-read only when its inode, size or mtime changed since the last read. At
   * once (no promise) when the stat shows it unchanged, as it is on nearly every pull.
   */
  read(): MaybeAsync<FileState<T>>;
}

/** `parse` returns an Error for content it rejects; its message is logged, so it must not quote secrets. */
export type FileParser<T> = (text: string) => T | Error;

interface Stamp {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

function fingerprint(stats: Stamp): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

/**
 * A small configuration file another program rewrites (`docker login` replaces config.json, Docker Desktop
 * registry.json): one stat per read tells whether it changed, so a sign-in takes effect on the next request without a
 * watcher to close. Reads while a changed file is being read share that read. `onChange` sees each new state once.
 */
export function watchedFile<T>(path: string, parse: FileParser<T>, onChange: (state: FileState<T>) => void): WatchedFile<T> {
  // `stamp`: the stat the state was made from, when it stands for as long as the file does not change.
  let last: { fingerprint: string; state: FileState<T>; stamp?: Stamp } | undefined;
  let pending: Promise<FileState<T>> | undefined;

  const settle = (print: string, state: FileState<T>, stamp?: Stamp): FileState<T> => {
    if (last?.fingerprint !== print) onChange(state);
    last = { fingerprint: print, state, ...(stamp === undefined ? {} : { stamp }) };
    return state;
  };

  function load(): MaybeAsync<FileState<T>> {
    let stats;
    try {
      // Synchronous on purpose: this runs on every pull decision, and a stat of a small local file takes microseconds,
      // while a promise stat goes through the libuv thread pool and put milliseconds into the decision's p99 (make bench).
      // A missing file (registry.json usually is) returns undefined rather than paying for a thrown error each time.
      stats = statSync(path, { throwIfNoEntry: false });
      if (stats === undefined) return settle('missing', { kind: 'missing' });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (code === 'ENOENT' || code === 'ENOTDIR') return settle('missing', { kind: 'missing' });
      return settle(`stat:${code}`, { kind: 'unreadable', problem: `cannot stat (${code})` });
    }
    // Compared field by field: the fingerprint is made only when the file changed.
    const stamp = last?.stamp;
    if (stamp !== undefined && stamp.ino === stats.ino && stamp.size === stats.size && stamp.mtimeMs === stats.mtimeMs) return last!.state;
    const print = fingerprint(stats);
    // A FIFO would block the read forever; a huge file is not a config file.
    if (!stats.isFile()) return settle(print, { kind: 'unreadable', problem: 'not a regular file' }, stats);
    if (stats.size > MAX_FILE_BYTES) return settle(print, { kind: 'unreadable', problem: `larger than ${MAX_FILE_BYTES} bytes` }, stats);
    pending = reread(print, stats).finally(() => {
      pending = undefined;
    });
    return pending;
  }

  async function reread(print: string, stamp: Stamp): Promise<FileState<T>> {
    let text: string;
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (error) {
      return settle(`read:${print}`, { kind: 'unreadable', problem: `cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
    }
    const value = parse(text);
    return settle(print, value instanceof Error ? { kind: 'unreadable', problem: value.message } : { kind: 'ok', value }, stamp);
  }

  return {
    path,
    read: () => pending ?? load(),
  };
}
