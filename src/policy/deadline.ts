/**
 * `promise`'s value, or undefined once `ms` have passed; the promise keeps running (a fetch still fills its cache).
 * The timer is unref'd: a pending deadline never keeps the process alive.
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
