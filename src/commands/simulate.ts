/**
 * `image-access simulate POLICY --audit-log FILE [--json]`: before turning a stricter policy on, replays the pulls an
 * audit log recorded (its rotated files FILE.1, FILE.2... too, oldest first) against the candidate policy document and
 * prints what would change. Exit 0 nothing newly denied, 1 some pulls would be newly denied, 2 error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { replay, type ChangedPull, type RecordedPull } from '../decision/replay';
import { parsePolicyText } from '../policy/policy';
import { EXIT_ERROR, EXIT_NOT_OK, EXIT_OK, guarded, type CommandIo } from './command-io';

export const SIMULATE_USAGE = `  image-access simulate POLICY --audit-log FILE [--json]
      replay the pulls in an audit log (and its rotated FILE.1, FILE.2, ...) against the candidate policy document
      POLICY and print what would change; exit 0 nothing newly denied, 1 some pulls newly denied, 2 error`;

/** The audit record's fields replay reads; others (time, host, latency...) may be anything. */
const recordSchema = z.object({
  image: z.string(),
  user: z.string().nullable(),
  identitySource: z.string().optional(),
  category: z.string(),
  decision: z.enum(['allow', 'deny', 'warn']),
  rule: z.string(),
});

/** The audit log's files, oldest first: FILE.N ... FILE.1, FILE. */
export function auditFiles(path: string): string[] {
  const rotated: string[] = [];
  for (let n = 1; existsSync(`${path}.${n}`); n++) rotated.unshift(`${path}.${n}`);
  return existsSync(path) ? [...rotated, path] : rotated;
}

/** Every record of the files, with a count of the lines that are not one. */
export function readRecords(files: readonly string[]): { records: RecordedPull[]; unreadable: number } {
  const records: RecordedPull[] = [];
  let unreadable = 0;
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let data: unknown;
      try {
        data = JSON.parse(line);
      } catch {
        unreadable++;
        continue;
      }
      const parsed = recordSchema.safeParse(data);
      if (parsed.success) records.push(parsed.data);
      else unreadable++;
    }
  }
  return { records, unreadable };
}

/** `count  key` lines, most first, for the `key` of each change. */
function countedBy(changes: readonly ChangedPull[], key: (change: ChangedPull) => string): string[] {
  const counts = new Map<string, number>();
  for (const change of changes) counts.set(key(change), (counts.get(key(change)) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([name, count]) => `      ${String(count).padStart(5)}  ${name}`);
}

function section(title: string, changes: readonly ChangedPull[]): string[] {
  if (changes.length === 0) return [`  ${title}: none`];
  return [
    `  ${title}: ${changes.length} pull${changes.length === 1 ? '' : 's'}`,
    '    by image:',
    ...countedBy(changes, (change) => change.image),
    '    by user:',
    ...countedBy(changes, (change) => change.user ?? '(nobody signed in)'),
    '    by rule (before -> after):',
    ...countedBy(changes, (change) => `${change.before} -> ${change.after}`),
  ];
}

export function runSimulate(args: readonly string[], io: CommandIo): Promise<number> {
  return guarded('simulate', io, async () => {
    let json = false;
    let auditLog: string | undefined;
    const positional: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      if (arg === '--json') json = true;
      else if (arg === '--audit-log') auditLog = args[++i];
      else if (arg.startsWith('--audit-log=')) auditLog = arg.slice('--audit-log='.length);
      else if (arg.startsWith('-')) {
        io.err(`image-access simulate: unknown option ${arg}\n`);
        return EXIT_ERROR;
      } else positional.push(arg);
    }
    if (positional.length !== 1 || auditLog === undefined || auditLog === '') {
      io.err('image-access simulate: usage: image-access simulate POLICY --audit-log FILE [--json]\n');
      return EXIT_ERROR;
    }
    const policyPath = positional[0]!;
    let text: string;
    try {
      text = readFileSync(policyPath, 'utf8');
    } catch (error) {
      io.err(`image-access simulate: cannot read ${policyPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}\n`);
      return EXIT_ERROR;
    }
    const parsed = parsePolicyText(text);
    if (!parsed.ok) {
      io.err(`image-access simulate: ${policyPath}: ${parsed.error}\n`);
      return EXIT_ERROR;
    }
    const files = auditFiles(auditLog);
    if (files.length === 0) {
      io.err(`image-access simulate: no audit log at ${auditLog} (nor ${auditLog}.1)\n`);
      return EXIT_ERROR;
    }
    const { records, unreadable } = readRecords(files);
    const result = replay(records, parsed.policy);
    if (json) {
      io.out(`${JSON.stringify({ policy: policyPath, organization: parsed.policy.organization, files, unreadable, ...result })}\n`);
    } else {
      io.out(
        [
          `Simulated ${policyPath} (organization ${parsed.policy.organization}) on ${result.replayed} recorded pulls from ${files.join(', ')}` +
            ` (${result.skipped} not pulls of a named image, ${unreadable} unreadable lines skipped)`,
          ...section('newly denied', result.newlyDenied),
          ...section('newly allowed', result.newlyAllowed),
          '',
        ].join('\n'),
      );
    }
    return result.newlyDenied.length > 0 ? EXIT_NOT_OK : EXIT_OK;
  });
}
