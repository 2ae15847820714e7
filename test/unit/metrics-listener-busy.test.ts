import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../src/config/settings';
import { createObservability } from '../../src/observability/observability';
import { SIGNED_OUT } from '../../src/identity/identity';
import { staticSource } from '../../src/policy/file-source';
import { defaultPolicy } from '../../src/policy/default-policy';
import { captureLog } from '../hub/log-capture';

/** The admin listener is secondary: when its address is taken, the plugin still starts and enforces, and says so. */
test('a busy admin socket is logged, not fatal', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ia-busy-'));
  const path = join(dir, 'admin.sock');
  const squatter: Server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => squatter.listen(path, resolve));
  const log = captureLog();
  const observability = createObservability(loadSettings({ IMAGE_ACCESS_METRICS: path }, []), log.logger, () => Date.now());
  try {
    await expect(
      observability.start({ policySource: staticSource(defaultPolicy(), 'builtin', 0), identity: { identify: () => Promise.resolve(SIGNED_OUT) }, explain: () => Promise.resolve({ notJudged: 'unused' }) }),
    ).resolves.toBeUndefined();
    expect(log.find('error', 'admin listener not started; /metrics, /healthz and status are unavailable')).toEqual([
      expect.objectContaining({ error: expect.stringContaining('another process is already serving') }),
    ]);
    // The metrics and the recent denials the page shows still hear every decision.
    expect(observability.observers).toHaveLength(2);
  } finally {
    await observability.stop();
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});
