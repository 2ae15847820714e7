import { isAscii } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setCodeCacheStatus, type CodeCacheStatus } from './code-cache-status';
import { setV8Flags } from './v8-flags';

/**
 * V8 takes a code cache only under the V8 flags it was made with, Node's own too (node:http and the modules it loads,
 * compiled at Node's build): config.json's --max-semi-space-size=1 had every one of them compiled from source, ~10 ms
 * of CPU at each start. The flag has done its work once the heap exists (the heap keeps the semi-spaces it sized; a
 * worker's young generation then follows its own resourceLimits), so it is set back to its default before anything
 * else is compiled (setV8Flags: no module loaded for it). Should that fail, the flag stays and the start is as slow as
 * before.
 */
function restoreDefaultSemiSpaceFlag(): void {
  setV8Flags('--max-semi-space-size=0');
}

/**
 * A script compiled with the V8 code cache made for it: the bytecode of what a start ran, so V8 neither parses nor
 * compiles that again (bundle/app.js, half a megabyte). The script's first line names its build (scripts/bundle.js:
 * a hash of the rest) and the cache starts with the same line, so a cache is never applied to another build (V8 itself
 * checks only the source's length); V8 refuses one made by another node or under other V8 flags. Either way the
 * script is compiled as without a cache.
 */
export interface CompiledScript {
  readonly codeCache: CodeCacheStatus;
  /** Runs the script as the CommonJS module `module` (its require resolves beside the caller). */
  run(module: NodeModule, require: NodeJS.Require): void;
  /** The cache for this build, with what has been compiled so far: after a run, what that run needed. */
  cacheData(): Buffer;
}

export function compileWithCodeCache(file: string, cacheFile: string): CompiledScript {
  restoreDefaultSemiSpaceFlag();
  const { Script } = require('node:vm') as typeof import('node:vm');
  // esbuild writes ASCII (escaping the rest): read as one buffer and taken as one-byte text, ~3 ms less than as UTF-8.
  const bytes = readFileSync(file);
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const build = source.slice(0, source.indexOf('\n') + 1);
  let cache: Buffer | undefined;
  try {
    cache = readFileSync(cacheFile);
  } catch {
    // Absent or unreadable: compiled as without one.
  }
  const matches = cache !== undefined && build !== '' && cache.toString('latin1', 0, build.length) === build;
  // On one line with the script's first, so its line numbers (stack traces) stay those of the file.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(matches && { cachedData: cache!.subarray(build.length) }),
  });
  const codeCache: CodeCacheStatus = cache === undefined ? 'none' : !matches ? 'stale' : script.cachedDataRejected === true ? 'rejected' : 'used';
  return {
    codeCache,
    run: (module, require) => {
      setCodeCacheStatus(codeCache);
      (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, file, dirname(file));
    },
    cacheData: () => Buffer.concat([Buffer.from(build, 'latin1'), script.createCachedData()]),
  };
}
