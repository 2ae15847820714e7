import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';

/** Set IA_KEEP_TMP=1 to keep every harness directory (logs, daemon data) for a post-mortem. */
const KEEP = process.env['IA_KEEP_TMP'] === '1';

/**
 * A fresh directory directly under /tmp with a short name: unix socket paths (dockerd's, containerd's under the exec
 * root, the plugin's) must stay under 108 bytes.
 */
export function makeTempDir(): string {
  return mkdtempSync('/tmp/ia-');
}

/** Mount points under `dir`, deepest first (dockerd can leave netns or overlay mounts behind if killed). */
function mountsUnder(dir: string): string[] {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((path) => path.replace(/\\040/g, ' '))
    .filter((path) => path === dir || path.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export function removeTempDir(dir: string): void {
  if (KEEP) return;
  for (const mount of mountsUnder(dir)) spawnSync('umount', ['-l', mount]);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
