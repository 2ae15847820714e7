/**
 * `new Date(ms).toISOString()` for times that come in order, as a plugin's lines do: V8 formats an ISO time with
 * snprintf, a fifth of what a decision line cost beyond writing it, and a decision's lines need three. The text up to
 * the second is kept and reused for the next time in the same second; the same time again is the same text.
 */
export function isoTimes(): (ms: number) => string {
  let second = Number.NaN;
  let prefix = '';
  let lastMs = Number.NaN;
  let last = '';
  return (ms) => {
    if (ms === lastMs) return last;
    // A Date keeps whole milliseconds (cut toward zero); a time it cannot hold throws as toISOString does.
    const whole = Math.trunc(ms);
    const thisSecond = Math.floor(whole / 1000);
    if (thisSecond !== second || !Number.isFinite(whole)) {
      const text = new Date(whole).toISOString();
      second = thisSecond;
      // `...T12:34:56.` : every ISO time ends with three digits of milliseconds and a Z.
      prefix = text.slice(0, -4);
    }
    const milli = whole - thisSecond * 1000;
    lastMs = ms;
    last = `${prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
    return last;
  };
}
