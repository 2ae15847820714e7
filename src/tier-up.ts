import type { AuthZHandler } from './protocol/server';
import { setV8Flags } from './v8-flags';

/**
 * V8 optimises a function once it has run about 200 KB of its bytecode (three ticks of --interrupt-budget, 66 KiB by
 * default). At daemon pace each call runs the decision path's functions once, so that path stayed unoptimised for the
 * first thousand or so pulls, and unoptimised code costs most on a CPU left cold between calls, as dockerd leaves it.
 * With a sixteenth of the budget it is optimised within a few hundred calls: a pull's AuthZReq, calls 8 ms apart
 * (median of 6 interleaved rounds of 200), took 288 µs instead of 417, the minimal plugin 268.
 */
export const OPTIMISE_SOONER = '--interrupt-budget=4096';

/**
 * Optimised code does not stay: V8's memory reducer, which runs after a burst of calls has grown the heap, collects
 * the maps of objects no call holds any more (a parsed body, a queued microtask), and the code specialised on them is
 * thrown away (nine functions of the pull path each time, `--trace-deopt`: "weak objects"). V8 left each of them
 * with the budget it gives optimised code for on-stack replacement, --invocation-count-for-osr (500) times its
 * bytecode, so the path ran unoptimised again for the next 300 to 900 pulls. At 5 times it is optimised again within
 * 30 to 110.
 */
export const OPTIMISE_AGAIN_SOONER = '--invocation-count-for-osr=5';

/** Both change when V8 optimises, not what the code does. */
export const DAEMON_PACE_TIER_UP = `${OPTIMISE_SOONER} ${OPTIMISE_AGAIN_SOONER}`;

/**
 * `handler`, with V8 told to optimise sooner from its first authorization call on. Not on the command line: node
 * refuses the flag in NODE_OPTIONS (the systemd unit's), and V8 takes a code cache only under the flags it was made
 * with, so Node's own modules, cached at Node's build, would be compiled at every start (node:http, node:net and
 * node:crypto loaded in 14 ms instead of 4); start-up code, which runs once, gains nothing from it. Not once the socket
 * listens either: the bundle's code cache is made once a start has answered Activate (scripts/code-cache.js), under
 * the flags a start has. A module of Node's loaded after it is compiled without its cache, once: node:https, node:tls
 * and node:zlib, loaded with the first call out (a Hub or policy URL fetch), in 18 ms instead of 5.5.
 */
export function tieringUpAtFirstCall(handler: AuthZHandler, setFlags: (flags: string) => unknown = setV8Flags): AuthZHandler {
  let set = false;
  return {
    authorizeRequest(request, recognized) {
      if (!set) setFlags(DAEMON_PACE_TIER_UP);
      set = true;
      return handler.authorizeRequest(request, recognized);
    },
    ...(handler.needsBody === undefined ? {} : { needsBody: (head) => handler.needsBody!(head) }),
  };
}
