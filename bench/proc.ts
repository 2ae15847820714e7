/** What the bench reads of a process from /proc: contention barely moves these, unlike wall-clock time. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU seconds (user + system, all threads) the process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * The same CPU time in nanosecond resolution: the sum of every live thread's time on CPU (/proc/PID/task/TID/schedstat).
 * /proc/PID/stat counts in clock ticks (10 ms), too coarse for a few thousand calls of tens of µs each. A thread that
 * exits takes its time with it, so use this only where the plugin's threads live throughout (no worker threads).
 */
export function cpuSecondsFine(pid: number): number {
  let nanoseconds = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return nanoseconds / 1e9;
}

export const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

/** The machine's 1-minute load average: printed next to every phase, since other work shares this machine. */
export const load1 = () => loadavg()[0] ?? NaN;
