/**
 * A value now, or a promise of it when it has to be waited for. The lookups of a pull (sign-in, organisation, policy,
 * membership, badge) answer from memory nearly every time: returned as they are, a cached pull is judged and answered
 * in the turn its request arrived in, without a promise per step; only a lookup that must fetch returns a promise.
 */
export type MaybeAsync<T> = T | Promise<T>;

export const isPromise = <T>(value: MaybeAsync<T>): value is Promise<T> => typeof (value as Promise<T> | undefined)?.then === 'function';

/** `next` applied to `value`: at once when it is there, once it settles when it is a promise. */
export function then<T, U>(value: MaybeAsync<T>, next: (value: T) => MaybeAsync<U>): MaybeAsync<U> {
  return isPromise(value) ? value.then(next) : next(value);
}
