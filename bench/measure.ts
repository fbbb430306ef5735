/** What the bench reads beside autocannon: the gateway's metrics, how busy the machine is, argon2's limit. */
import argon2 from 'argon2';
import { machineTicks, postgresTicks, processTicks, sleep } from './proc.js';
import { PASSWORD } from './setup.js';

export type Scraped = { lagP99: number | null; heapUsed: number; heapTotal: number };

/** GET /metrics of the gateway; reading it also resets prom-client's event-loop histogram. */
export async function scrapeMetrics(base: string, token: string): Promise<Scraped> {
  const value = (text: string, name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  try {
    const text = await (
      await fetch(`${base}/metrics`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5000),
      })
    ).text();
    return {
      lagP99: value(text, 'nodejs_eventloop_lag_p99_seconds'),
      heapUsed: value(text, 'nodejs_heap_size_used_bytes') ?? 0,
      heapTotal: value(text, 'nodejs_heap_size_total_bytes') ?? 0,
    };
  } catch {
    return { lagP99: null, heapUsed: 0, heapTotal: 0 };
  }
}

/** Percent of the whole machine busy over `ms`. */
export async function machineBusy(ms: number): Promise<number> {
  const a = machineTicks();
  await sleep(ms);
  const b = machineTicks();
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * 100 : 0;
}

let quietBudgetMs = 30_000;

/**
 * Waits (at most 5 s) until the servers use under 10 % of a core over 250 ms; then, while the
 * rest of the machine (not the servers, not our Postgres) is busier than 15 %, waits a little
 * more for it to calm down (at most 3 s per run, 30 s per bench). Returns that outside load,
 * in % of the machine, over the last quiet window.
 */
export async function waitIdle(pids: number[], embeddedPg: boolean): Promise<number> {
  const ticks = () =>
    pids.reduce((s, p) => s + (processTicks(p) ?? 0), 0) + (embeddedPg ? postgresTicks(process.pid) : 0);
  const start = Date.now();
  let serversIdle = false;
  for (;;) {
    const t0 = ticks();
    const m0 = machineTicks();
    await sleep(250);
    const ours = ticks() - t0;
    const m1 = machineTicks();
    const other = m1.total > m0.total ? (Math.max(0, m1.busy - m0.busy - ours) / (m1.total - m0.total)) * 100 : 0;
    serversIdle ||= ours <= 2;
    const waited = Date.now() - start;
    if (!serversIdle && waited < 5000) continue;
    if (other <= 15 || waited > 3000 || quietBudgetMs <= 0) return other;
    quietBudgetMs -= 250;
  }
}

export type HashLimit = { perSecond: number; verifies: number; seconds: number; otherLoadPct: number };

/**
 * argon2.verify of the seeded hash, four at a time (libuv's default pool), for ~4 s, and how
 * much of the machine other processes used meanwhile.
 */
export async function measureHashLimit(hash: string, pids: number[], embeddedPg: boolean): Promise<HashLimit> {
  await argon2.verify(hash, PASSWORD); // warm
  let n = 0;
  const ours = () =>
    pids.reduce((s, p) => s + (processTicks(p) ?? 0), 0) +
    (processTicks(process.pid) ?? 0) +
    (embeddedPg ? postgresTicks(process.pid) : 0);
  const o0 = ours();
  const m0 = machineTicks();
  const t0 = performance.now();
  const deadline = t0 + 4000;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() < deadline) {
        if (!(await argon2.verify(hash, PASSWORD))) throw new Error('the seeded hash does not verify');
        n++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const m1 = machineTicks();
  const other = Math.max(0, m1.busy - m0.busy - (ours() - o0));
  return {
    perSecond: n / seconds,
    verifies: n,
    seconds,
    otherLoadPct: m1.total > m0.total ? (other / (m1.total - m0.total)) * 100 : 0,
  };
}
