import type { MaybeAsync } from '../src/maybe-async';
import { REFRESHING } from '../src/policy/cache';
import { isUnavailable, type PolicyUnavailable, type PolicyView } from '../src/policy/source';

export function view(result: PolicyView | PolicyUnavailable): PolicyView {
  if (isUnavailable(result)) throw new Error(`expected a policy, got: ${result.unavailable}`);
  return result;
}

/**
 * Past the TTL a pull is answered from the cache at once, marked REFRESHING, and the refresh runs behind it: the
 * policy once that refresh is done (fresh, or marked with its failure).
 */
export async function afterRefresh(policyFor: () => MaybeAsync<PolicyView | PolicyUnavailable>): Promise<PolicyView> {
  expect(view(await policyFor()).stale).toBe(REFRESHING);
  for (;;) {
    const later = view(await policyFor());
    if (later.stale !== REFRESHING) return later;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
