import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The real-engine tests run what ships: the sources bundled as `make build` does (unchanged files are not rewritten). */
export default function bundleSources(): void {
  execFileSync(process.execPath, [join(__dirname, '..', '..', 'scripts', 'bundle.js')], { stdio: 'inherit' });
}
