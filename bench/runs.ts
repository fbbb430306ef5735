import type { LoadSpec } from './load.js';
import type { Scraped } from './measure.js';
import { waitIdle } from './measure.js';
import { CLK_TCK, machineTicks, postgresTicks } from './proc.js';
import { medianRun, type RunRow } from './report.js';
import type { Scenario } from './scenarios.js';
import { alive, type Child, log, runLoad } from './servers.js';

/** What a measured run needs to know of the servers under test and the machine. */
export type RunContext = {
  token: string;
  durationS: number;
  warmupS: number;
  /** The gateway's pid: the RSS target is read from its runs alone. */
  gatewayPid: number;
  /** Every server process, whose load `waitIdle` waits out before a run. */
  serverPids: number[];
  /** The processes that must still be alive after each run. */
  children: Child[];
  embeddedPg: boolean;
  pidOf: (server: RunRow['server']) => number;
  /** CPU ticks of a server (a process tree for the two-worker gateway). */
  ticksOf: (server: RunRow['server'], pid: number) => number | null;
  rssOf: (pid: number) => number | null;
  /** The gateway's /metrics: each read resets its event-loop p99 window. */
  scrape: () => Promise<Scraped>;
};

export type Runner = {
  /** One warmed-up, measured run of scenario `s` at concurrency `c`. */
  measure: (s: Scenario, c: number) => Promise<RunRow>;
  /** The gateway's largest RSS sampled while any of its runs loaded it. */
  gatewayRssMax: () => number;
};

/** Runs scenarios one at a time, sampling the loaded server's RSS every 200 ms. */
export function runner(x: RunContext): Runner {
  let rssMax = 0;
  let rssRunMax = 0;
  let sampledPid: number | null = null;
  const sampler = setInterval(() => {
    if (sampledPid === null) return;
    const v = x.rssOf(sampledPid) ?? 0;
    if (sampledPid === x.gatewayPid) rssMax = Math.max(rssMax, v);
    rssRunMax = Math.max(rssRunMax, v);
  }, 200);
  sampler.unref();

  const measure = async (s: Scenario, c: number): Promise<RunRow> => {
    const pid = x.pidOf(s.server);
    const spec: LoadSpec = {
      url: s.path,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(s.auth ? { authorization: `Bearer ${x.token}` } : {}) },
      connections: c,
      duration: x.durationS,
      warmup: x.warmupS,
      sync: true,
      ...(s.body !== undefined ? { body: s.body } : {}),
      ...(s.bodies ? { bodiesFile: await s.bodies(c), bodiesReuse: s.bodiesReuse ?? false } : {}),
    };
    let ticks0 = 0;
    let ticks1 = 0;
    let pg0 = 0;
    let pg1 = 0;
    let m0 = { busy: 0, total: 0 };
    let m1 = { busy: 0, total: 0 };
    let lag: number | null = null;
    let idleBusy: number | null = null;
    rssRunMax = 0;
    sampledPid = pid;
    const result = await runLoad(spec, {
      ready: async () => {
        // The warm-up's abandoned requests finish first; how busy the machine is meanwhile
        // shows load that is not ours.
        idleBusy = await waitIdle(x.serverPids, x.embeddedPg);
        if (s.server === 'gateway') await x.scrape(); // resets the p99 window
        ticks0 = x.ticksOf(s.server, pid) ?? Number.NaN;
        pg0 = x.embeddedPg ? postgresTicks(process.pid) : 0;
        m0 = machineTicks();
      },
      done: async () => {
        ticks1 = x.ticksOf(s.server, pid) ?? Number.NaN;
        pg1 = x.embeddedPg ? postgresTicks(process.pid) : 0;
        m1 = machineTicks();
        if (s.server === 'gateway') lag = (await x.scrape()).lagP99;
      },
    });
    sampledPid = null;
    const usPerTick = 1e6 / CLK_TCK;
    const row: RunRow = {
      key: s.key,
      label: s.label,
      server: s.server,
      connections: c,
      requests: result.requests,
      rps: result.rps,
      p50Ms: result.latencyMs.p50,
      p99Ms: result.latencyMs.p99,
      meanMs: result.latencyMs.mean,
      errors: result.errors,
      non2xx: result.non2xx,
      socketErrors: result.socketErrors,
      timeouts: result.timeouts,
      graphqlErrors: result.graphqlErrors,
      serverCpuUsPerReq: result.requests > 0 ? ((ticks1 - ticks0) * usPerTick) / result.requests : null,
      serverCpuPct: ((ticks1 - ticks0) / CLK_TCK / result.durationS) * 100,
      pgCpuUsPerReq: x.embeddedPg && result.requests > 0 ? ((pg1 - pg0) * usPerTick) / result.requests : null,
      loadGenCpuPct: result.loadCpuPct,
      machineBusyPct: m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 : null,
      // The gateway's and PostGraphile's; the floor's is of no interest.
      rssMaxMB: s.server.startsWith('floor') || s.server === 'yoga-alone' ? null : rssRunMax / 2 ** 20,
      eventLoopP99Ms: lag === null ? null : (lag as number) * 1000,
      idleMachineBusyPct: idleBusy,
      bodiesExhausted: result.bodiesExhausted ?? false,
      warmupRequests: result.warmup?.requests ?? 0,
    };
    log(
      `${s.server.padEnd(19)} ${s.label.padEnd(38)} c=${String(c).padEnd(2)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${fmt(row.p50Ms)} ms  p99 ${fmt(row.p99Ms)} ms  errors ${row.errors}  CPU ${fmt(row.serverCpuUsPerReq, 0)} µs/req`,
    );
    if (row.bodiesExhausted)
      log(`  WARNING: ${s.label} c=${c} ran out of unused refresh tokens; this row is not valid`);
    if (idleBusy !== null && (idleBusy as number) > 15)
      log(
        `  WARNING: other processes kept ${(idleBusy as number).toFixed(0)}% of the machine busy before this run: numbers are noisy`,
      );
    if (row.errors > 0) log(`  WARNING: ${row.errors} errors (${JSON.stringify(result).slice(0, 300)})`);
    for (const ch of x.children) if (!alive(ch)) throw new Error(`${ch.name} exited:\n${ch.tail.join('\n')}`);
    return row;
  };

  return { measure, gatewayRssMax: () => rssMax };
}

export type RoundsOptions = {
  concurrency: readonly number[];
  /** How many times the servers a ratio compares run in turn at c=32. */
  rounds: number;
  /** Scenarios measured as one group: another's key for the same work sent another way. */
  family: Record<string, string>;
  /** Called before a group's first run (the sign-in group measures the hashing limit first). */
  beforeGroup?: (group: Scenario[]) => Promise<void>;
};

/**
 * Every scenario at every concurrency, in the scenarios' order. The servers a ratio compares
 * run in turn, `rounds` times at c=32 (the targets' concurrency), and each keeps its median
 * run: this machine's speed drifts by tens of percent within minutes, and a ratio of two runs
 * made minutes apart measured the drift as much as the servers. Each row says how many rounds
 * it is the median of.
 */
export async function measureAll(
  scenarios: Scenario[],
  measure: Runner['measure'],
  o: RoundsOptions,
): Promise<RunRow[]> {
  const medians = new Map<string, RunRow>();
  const keyOf = (s: Scenario, c: number) => `${scenarios.indexOf(s)}@${c}`;
  const groups = new Map<string, Scenario[]>();
  for (const s of scenarios) {
    const k = o.family[s.key] ?? s.key;
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  for (const group of groups.values()) {
    await o.beforeGroup?.(group);
    for (const c of o.concurrency) {
      const rounds = group.length > 1 && c === 32 ? o.rounds : 1;
      const runs = new Map(group.map((s) => [s, [] as RunRow[]]));
      for (let round = 1; round <= rounds; round++) {
        if (rounds > 1) log(`round ${round} of ${rounds}, c=${c}`);
        for (const s of group) runs.get(s)?.push(await measure(s, c));
      }
      for (const [s, list] of runs) medians.set(keyOf(s, c), medianRun(list));
    }
  }
  return scenarios.flatMap((s) =>
    o.concurrency.flatMap((c) => {
      const row = medians.get(keyOf(s, c));
      return row ? [row] : [];
    }),
  );
}

export function fmt(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}
