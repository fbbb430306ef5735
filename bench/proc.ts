export { freePort } from '../test/ports.js';

/** Small readers of /proc (Linux) and helpers shared by the bench scripts. */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100;

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime of one process, in clock ticks; null when it is gone. */
export function processTicks(pid: number): number | null {
  const f = statFields(pid);
  // Fields 14 and 15 of the man page; f[0] is field 3.
  return f ? Number(f[11]) + Number(f[12]) : null;
}

type Proc = { ppid: number; comm: string; ticks: number; childTicks: number };

/** Every process of the machine: its parent, its name and its CPU in clock ticks. */
function procTable(): Map<number, Proc> {
  const procs = new Map<number, Proc>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), {
        ppid: Number(f[1]),
        comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
        ticks: Number(f[11]) + Number(f[12]),
        childTicks: Number(f[13]) + Number(f[14]),
      });
    } catch {}
  }
  return procs;
}

function descendsFrom(procs: Map<number, Proc>, pid: number, root: number): boolean {
  for (let p = procs.get(pid)?.ppid, hops = 0; p && hops < 10; p = procs.get(p)?.ppid, hops++)
    if (p === root) return true;
  return false;
}

/**
 * CPU of the `postgres` processes (postmaster, backends, background workers) that descend
 * from `root` (the bench process, which started the embedded cluster), in clock ticks, with
 * the ended children they reaped (cutime + cstime). Other clusters on the machine are left out.
 */
export function postgresTicks(root: number): number {
  const procs = procTable();
  let total = 0;
  for (const [pid, p] of procs)
    if (p.comm === 'postgres' && descendsFrom(procs, pid, root)) total += p.ticks + p.childTicks;
  return total;
}

/** `root` and the processes it forked (a gateway's cluster workers): their own CPU, in clock ticks. */
export function treeTicks(root: number): number | null {
  const procs = procTable();
  if (!procs.has(root)) return null;
  let total = 0;
  for (const [pid, p] of procs) if (pid === root || descendsFrom(procs, pid, root)) total += p.ticks;
  return total;
}

/** RSS of `root` and the processes it forked, in bytes. */
export function treeRss(root: number): number | null {
  const procs = procTable();
  if (!procs.has(root)) return null;
  let total = 0;
  for (const pid of procs.keys()) if (pid === root || descendsFrom(procs, pid, root)) total += rssBytes(pid) ?? 0;
  return total;
}

/** Whole-machine CPU from /proc/stat: busy and total ticks over all cores. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is counted in user already)
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Resident set size in bytes (VmRSS), null when the process is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
