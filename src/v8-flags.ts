/**
 * Sets V8 flags in a running process through process.binding('v8'): the way that loads nothing (node:v8 costs more to
 * load than it saves); its deprecation warning is held back for the call. False where this node has no such binding.
 */
export function setV8Flags(flags: string): boolean {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    const withBinding = process as unknown as { binding(name: 'v8'): { setFlagsFromString?: (flags: string) => void } };
    const v8 = withBinding.binding('v8');
    if (v8.setFlagsFromString === undefined) return false;
    v8.setFlagsFromString(flags);
    return true;
  } catch {
    return false;
  } finally {
    process.noDeprecation = quiet;
  }
}
