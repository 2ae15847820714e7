import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from '../audit/logger';
import { parsePolicyText, type Badge, type OrgPolicy } from './policy';
import type { PolicySource, PolicyView } from './source';

/** A policy that carries its own badge catalogue: the embedded default and policy files. */
export function catalogueBadge(namespace: string, view: PolicyView): Promise<Badge | undefined> {
  return Promise.resolve(view.policy.badges.get(namespace));
}

export function staticSource(policy: OrgPolicy, describe: string, now: number): PolicySource {
  const view: PolicyView = { policy, source: describe, fetchedAt: now };
  return { describe, policyFor: () => Promise.resolve(view), badgeOf: catalogueBadge, close: () => undefined };
}

export class PolicyFileError extends Error {}

/** The file's policy, and a digest of its text that names this version of it. */
function readPolicyFile(path: string): { policy: OrgPolicy; version: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PolicyFileError(`cannot read policy file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const parsed = parsePolicyText(text);
  if (!parsed.ok) throw new PolicyFileError(`${path}: ${parsed.error}`);
  return { policy: parsed.policy, version: `sha256:${createHash('sha256').update(text).digest('hex').slice(0, 16)}` };
}

const WATCH_INTERVAL_MS = 1000;

/**
 * A policy file, read at start (a bad file stops the start with a clear error) and again whenever it changes; a
 * change that does not parse leaves the last good policy in force and says so in the log.
 */
export function fileSource(path: string, logger: Logger, clock: () => number): PolicySource {
  const describe = `file:${path}`;
  const read = (): PolicyView => ({ ...readPolicyFile(path), source: describe, fetchedAt: clock() });
  let view = read();
  watchFile(path, { interval: WATCH_INTERVAL_MS, persistent: false }, () => {
    try {
      view = read();
      logger.info('policy file reloaded', { path, organization: view.policy.organization });
    } catch (error) {
      view = { ...view, stale: (error as Error).message };
      logger.error('policy file change rejected; keeping the last good policy', { path, error: (error as Error).message });
    }
  });
  return {
    describe,
    policyFor: () => Promise.resolve(view),
    badgeOf: catalogueBadge,
    close: () => unwatchFile(path),
  };
}
