import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DAEMON_PACE_TIER_UP, tieringUpAtFirstCall } from '../../src/tier-up';
import type { AuthZHandler } from '../../src/protocol/server';
import { ALLOW, bareRequest } from '../../src/protocol/wire';

describe('tieringUpAtFirstCall', () => {
  const handler: AuthZHandler = { authorizeRequest: () => ALLOW, needsBody: (head) => head.method === 'POST' };

  test('sets the flag at the first authorization call, once, and answers as the handler does', () => {
    const set: string[] = [];
    const tiering = tieringUpAtFirstCall(handler, (flags) => set.push(flags));
    expect(set).toEqual([]);
    expect(tiering.needsBody!({ method: 'POST', uri: '/v1.41/images/create' })).toBe(true);
    expect(tiering.needsBody!({ method: 'GET', uri: '/_ping' })).toBe(false);
    expect(tiering.authorizeRequest(bareRequest('GET', '/_ping'))).toBe(ALLOW);
    expect(tiering.authorizeRequest(bareRequest('GET', '/_ping'))).toBe(ALLOW);
    expect(set).toEqual([DAEMON_PACE_TIER_UP]);
  });

  test('a handler that reads every body stays one', () => {
    expect(tieringUpAtFirstCall({ authorizeRequest: () => ALLOW }).needsBody).toBeUndefined();
  });
});

/**
 * What the flag does in this node, set at run time as the plugin sets it: a function called once per event-loop turn,
 * as the decision path is at daemon pace, is optimised after 300 calls with it and not without (V8 natives syntax:
 * %GetOptimizationStatus, bit 16 optimised). Runs the compiled sources (dist/: npx tsc -p tsconfig.json).
 */
describe('the tier-up flag', () => {
  const DIST = join(__dirname, '..', '..', 'dist');
  const optimisedAfter300Calls = (setFlag: boolean) => {
    const script = `
      const { DAEMON_PACE_TIER_UP } = require(${JSON.stringify(join(DIST, 'tier-up.js'))});
      const { setV8Flags } = require(${JSON.stringify(join(DIST, 'v8-flags.js'))});
      if (${setFlag} && !setV8Flags(DAEMON_PACE_TIER_UP)) throw new Error('flag not set');
      function judge(ref) {
        const parts = ref.split('/');
        const name = parts[parts.length - 1];
        const colon = name.indexOf(':');
        return { namespace: parts.length > 1 ? parts[0] : 'library', name: colon < 0 ? name : name.slice(0, colon), tag: colon < 0 ? 'latest' : name.slice(colon + 1) };
      }
      let calls = 0;
      const call = () => {
        judge(calls % 2 === 0 ? 'alpine:3.20' : 'someone/app:1.0');
        if (++calls < 300) setImmediate(call);
        else setTimeout(() => process.stdout.write(String((%GetOptimizationStatus(judge) & 16) !== 0)), 200);
      };
      call();`;
    const run = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    return run.stdout;
  };

  test('a function called once per turn is optimised after 300 calls with it, and not without', () => {
    expect(optimisedAfter300Calls(true)).toBe('true');
    expect(optimisedAfter300Calls(false)).toBe('false');
  });
});
