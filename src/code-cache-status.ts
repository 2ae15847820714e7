/**
 * How bundle/cli.js compiled the plugin (src/code-cache.ts), for the start line: `used`, the bytecode made at
 * assembly; `none`, no cache beside the bundle; `stale`, a cache of another build of the bundle; `rejected`, V8
 * refused it (another node, or other V8 flags than config.json's). Undefined when the plugin runs unbundled (dist/).
 */
export type CodeCacheStatus = 'used' | 'none' | 'stale' | 'rejected';

const STATUS = Symbol.for('image-access.code-cache');

export function setCodeCacheStatus(status: CodeCacheStatus): void {
  (globalThis as { [STATUS]?: CodeCacheStatus })[STATUS] = status;
}

export function codeCacheStatus(): CodeCacheStatus | undefined {
  return (globalThis as { [STATUS]?: CodeCacheStatus })[STATUS];
}
