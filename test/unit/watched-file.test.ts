import { mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchedFile, type FileState } from '../../src/identity/watched-file';

/**
 * The file behind a sign-in (config.json) or an organisation (registry.json): re-read when it changes, however it
 * changes (`docker login` replaces the file; an editor may rewrite it in place), and only then.
 */

let dir: string;
let path: string;
let parses: string[];
let changes: Array<FileState<string>>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ia-watched-'));
  path = join(dir, 'config.json');
  parses = [];
  changes = [];
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const watch = () =>
  watchedFile(
    path,
    (text) => {
      parses.push(text);
      return text;
    },
    (state) => changes.push(state),
  );

const FIXED = new Date('2026-01-02T03:04:05Z');

test('an unchanged file is read once, and onChange is told once', async () => {
  writeFileSync(path, 'alice');
  const file = watch();
  for (let i = 0; i < 3; i++) expect(await file.read()).toStrictEqual({ kind: 'ok', value: 'alice' });
  expect(parses).toStrictEqual(['alice']);
  expect(changes).toStrictEqual([{ kind: 'ok', value: 'alice' }]);
});

test('concurrent reads share one read of the file', async () => {
  writeFileSync(path, 'alice');
  const file = watch();
  const states = await Promise.all([file.read(), file.read(), file.read()]);
  expect(states).toStrictEqual([1, 2, 3].map(() => ({ kind: 'ok', value: 'alice' })));
  expect(parses).toStrictEqual(['alice']);
});

test('a rewrite in place of the same size is seen by its modification time', async () => {
  writeFileSync(path, 'alice');
  utimesSync(path, FIXED, FIXED);
  const file = watch();
  expect(await file.read()).toStrictEqual({ kind: 'ok', value: 'alice' });
  const { ino } = statSync(path);
  writeFileSync(path, 'carol');
  utimesSync(path, FIXED, new Date(FIXED.getTime() + 1_000));
  expect(statSync(path).ino).toBe(ino);
  expect(await file.read()).toStrictEqual({ kind: 'ok', value: 'carol' });
  expect(changes).toStrictEqual([
    { kind: 'ok', value: 'alice' },
    { kind: 'ok', value: 'carol' },
  ]);
});

test('a replaced file (docker login renames a new one over it) is seen by its inode, even with the same size and time', async () => {
  writeFileSync(path, 'alice');
  utimesSync(path, FIXED, FIXED);
  const file = watch();
  expect(await file.read()).toStrictEqual({ kind: 'ok', value: 'alice' });
  const replacement = join(dir, 'config.json.tmp');
  writeFileSync(replacement, 'carol');
  utimesSync(replacement, FIXED, FIXED);
  renameSync(replacement, path);
  expect(await file.read()).toStrictEqual({ kind: 'ok', value: 'carol' });
  expect(parses).toStrictEqual(['alice', 'carol']);
});

test('removed, then back: missing is reported once, and the file is read again', async () => {
  writeFileSync(path, 'alice');
  const file = watch();
  await file.read();
  rmSync(path);
  expect(await file.read()).toStrictEqual({ kind: 'missing' });
  expect(await file.read()).toStrictEqual({ kind: 'missing' });
  writeFileSync(path, 'bob');
  expect(await file.read()).toStrictEqual({ kind: 'ok', value: 'bob' });
  expect(changes).toStrictEqual([{ kind: 'ok', value: 'alice' }, { kind: 'missing' }, { kind: 'ok', value: 'bob' }]);
});
