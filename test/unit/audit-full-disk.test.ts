import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, auditLine } from '../../src/audit/audit-log';
import type { DecisionEvent } from '../../src/observability/events';
import { captureLog } from '../hub/log-capture';

/**
 * The audit log on a disk that fills up, for real: a 64 KiB tmpfs mounted for the test (root; unmounted after).
 * Every record in the file is whole (no fragment for the next record to be glued onto), writing resumes with whole
 * lines once space is freed, and the plugin log says how many records were lost.
 */
const DISK_BYTES = 64 * 1024;

let mountPoint: string;

beforeAll(() => {
  mountPoint = mkdtempSync(join(tmpdir(), 'ia-audit-disk-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES},mode=0700`, 'tmpfs', mountPoint], { encoding: 'utf8' });
  if (mounted.status !== 0) throw new Error(`this test mounts a small tmpfs and needs root: ${mounted.stderr}`);
});

afterAll(() => {
  spawnSync('umount', [mountPoint]);
  rmdirSync(mountPoint);
});

const event = (n: number): DecisionEvent => ({
  time: Date.parse('2026-01-02T03:04:05.678Z') + n,
  image: `docker.io/someone/app-${n}:1.0`,
  category: 'community',
  decision: 'deny',
  rule: 'category-not-allowed',
  reason: 'a community image is not allowed by organization "acme"',
  mode: 'enforce',
  latencyMs: 0.4,
});

test('a full disk leaves every record whole, writing resumes with whole lines, and the lost records are logged', () => {
  const path = join(mountPoint, 'audit.log');
  const filler = join(mountPoint, 'filler');
  writeFileSync(filler, Buffer.alloc(DISK_BYTES / 2));
  const captured = captureLog();
  const audit = new AuditLog({ path, maxBytes: 10 * 1024 * 1024, keepFiles: 0, host: 'h', logger: captured.logger });

  let n = 0;
  while (captured.find('error', 'cannot write the audit log; decisions go unaudited until it is writable').length === 0) {
    audit.decided(event(n++));
    if (n > 1_000) throw new Error('the disk never filled up');
  }
  const failedAt = n - 1;
  // The failing record did not fit whole, but part of it did: a short write, then ENOSPC.
  expect(readFileSync(path).length + auditLine(event(failedAt), 'h').length).toBeGreaterThan(DISK_BYTES / 2 - 4096);
  for (let lost = 0; lost < 3; lost++) audit.decided(event(n++));

  rmSync(filler);
  audit.decided(event(n++));
  audit.decided(event(n++));
  audit.close();

  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  const images = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { image: string }).image);
  const expected = [...Array.from({ length: failedAt }, (_, i) => i), n - 2, n - 1].map((i) => `docker.io/someone/app-${i}:1.0`);
  expect(images).toEqual(expected);
  expect(captured.find('warn', 'audit log writable again; records were lost while it was not')).toEqual([
    expect.objectContaining({ path, lostRecords: 4, since: new Date(event(failedAt).time).toISOString() }),
  ]);
});
