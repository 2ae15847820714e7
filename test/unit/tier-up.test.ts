import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DAEMON_PACE_TIER_UP, OPTIMISE_SOONER, tieringUpAtFirstCall } from '../../src/tier-up';
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
 * What the flags do in this node, set at run time as the plugin sets them, on a function called once per event-loop
 * turn, as the decision path is at daemon pace (V8 natives syntax: %GetOptimizationStatus, bit 16 optimised). Runs the
 * compiled sources (dist/: npx tsc -p tsconfig.json).
 */
describe('the tier-up flags', () => {
  const DIST = join(__dirname, '..', '..', 'dist');
  /** A reference's parts, as the decision path finds them: a few hundred bytes of bytecode run straight through. */
  const JUDGE = `
    function judge(ref) {
      const at = ref.indexOf('@');
      const named = at < 0 ? ref : ref.slice(0, at);
      const digest = at < 0 ? '' : ref.slice(at + 1);
      const slash = named.indexOf('/');
      const first = slash < 0 ? '' : named.slice(0, slash);
      const domain = first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
      const remainder = domain === first ? named.slice(slash + 1) : named;
      const path = domain === 'docker.io' && !remainder.includes('/') ? 'library/' + remainder : remainder;
      const colon = path.lastIndexOf(':');
      const repository = colon < 0 ? path : path.slice(0, colon);
      const tag = colon < 0 ? (digest === '' ? 'latest' : '') : path.slice(colon + 1);
      const namespace = repository.slice(0, repository.indexOf('/'));
      return { domain, namespace, repository, tag, digest, official: namespace === 'library' };
    }
    const optimised = () => (%GetOptimizationStatus(judge) & 16) !== 0;
    let judged = 0;
    // count calls, each in a turn of its own; then a moment for a compile under way to be installed.
    const callTurns = (count, then) => {
      let left = count;
      const call = () => {
        judge(judged++ % 2 === 0 ? 'alpine:3.20' : 'someone/app:1.0');
        if (--left > 0) setImmediate(call);
        else setTimeout(then, 20);
      };
      call();
    };`;
  const run = (flags: string, body: string) => {
    const script = `
      const { setV8Flags } = require(${JSON.stringify(join(DIST, 'v8-flags.js'))});
      if (${JSON.stringify(flags)} !== '' && !setV8Flags(${JSON.stringify(flags)})) throw new Error('flags not set');
      ${JUDGE}
      ${body}`;
    const result = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    return result.stdout;
  };

  test('a function called once per turn is optimised after 300 calls with them, and not without', () => {
    const optimisedAfter300Calls = (flags: string) => run(flags, 'callTurns(300, () => setTimeout(() => process.stdout.write(String(optimised())), 200));');
    expect(optimisedAfter300Calls(DAEMON_PACE_TIER_UP)).toBe('true');
    expect(optimisedAfter300Calls('')).toBe('false');
  });

  test('once its optimised code is thrown away, it is optimised again within 200 calls, not 300 without the second', () => {
    // %DeoptimizeFunction drops the code as V8 does when a map it was specialised on is collected ("weak objects").
    const callsToOptimiseAgain = (flags: string) =>
      Number(
        run(
          flags,
          `callTurns(400, () => {
            if (!optimised()) throw new Error('not optimised after 400 calls');
            %DeoptimizeFunction(judge);
            let calls = 0;
            const more = () => (optimised() || calls >= 2000 ? process.stdout.write(String(calls)) : ((calls += 10), callTurns(10, more)));
            more();
          });`,
        ),
      );
    expect(callsToOptimiseAgain(DAEMON_PACE_TIER_UP)).toBeLessThanOrEqual(200);
    expect(callsToOptimiseAgain(OPTIMISE_SOONER)).toBeGreaterThan(300);
  });
});
