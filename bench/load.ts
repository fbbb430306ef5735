/**
 * One load run with autocannon, in its own process so the load generator's CPU is not the
 * server's. Reads a JSON spec from argv[2] (or stdin when absent) and prints one JSON
 * result on stdout.
 *
 *   { "url": "http://127.0.0.1:4000/graphql", "method": "POST", "headers": {...},
 *     "body": "...",            // or "bodiesFile": a JSON array of bodies, one per request, never reused
 *     "connections": 32, "duration": 6, "warmup": 2,
 *     "sync": false }           // true: a handshake with the parent around the measured run
 *
 * With `sync`, after the warm-up it writes `@@ready` on stderr and waits for a line on stdin,
 * and after the measured run `@@done` and waits again, so the parent can read the server's
 * CPU and metrics exactly at the edges of the measured window.
 * Usage: node --import tsx bench/load.ts '{"url":"http://127.0.0.1:4000/healthz","method":"GET","connections":4,"duration":3}'
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

export type LoadSpec = {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  bodiesFile?: string;
  /** Bodies may be used again once all were sent (sign-in); otherwise running out is flagged. */
  bodiesReuse?: boolean;
  connections: number;
  duration: number;
  warmup?: number;
  sync?: boolean;
  /** Count 2xx answers whose body carries GraphQL `errors` (default true). */
  checkGraphQL?: boolean;
};

export type LoadResult = {
  requests: number;
  durationS: number;
  rps: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  socketErrors: number;
  timeouts: number;
  graphqlErrors: number;
  errors: number;
  bodiesUsed?: number;
  bodiesExhausted?: boolean;
  loadCpuPct: number;
  warmup: { requests: number; errors: number } | null;
};

type AutocannonResult = {
  requests: { total: number };
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number };
};
type Tracker = {
  on: (event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void) => void;
};
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: AutocannonResult) => void) => Tracker;
// autocannon ships no types: loaded through require with the little of its API used here.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

async function readSpec(): Promise<LoadSpec> {
  const arg = process.argv[2];
  if (arg) return JSON.parse(arg) as LoadSpec;
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text) as LoadSpec;
}

const spec = await readSpec();
const bodies = spec.bodiesFile ? (JSON.parse(readFileSync(spec.bodiesFile, 'utf8')) as string[]) : null;
let next = 0;
let exhausted = false;
let graphqlErrors = 0;

const lines = spec.sync ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : null;
async function handshake(marker: string): Promise<void> {
  if (!lines) return;
  process.stderr.write(`${marker}\n`);
  const line = await lines.next();
  if (line.done) process.exit(2); // the parent went away
}

function run(duration: number): Promise<{ result: AutocannonResult; latencies: number[] }> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const request: Record<string, unknown> = {};
    if (spec.checkGraphQL !== false) {
      // A 200 whose body carries GraphQL errors is a failure too.
      request.onResponse = (status: number, body: string) => {
        if (status >= 200 && status < 300 && body.includes('"errors":')) graphqlErrors++;
      };
    }
    if (bodies) {
      request.setupRequest = (req: Record<string, unknown>) => {
        if (next >= bodies.length) {
          if (!spec.bodiesReuse) exhausted = true;
          next = 0;
        }
        return { ...req, body: bodies[next++] };
      };
    }
    const tracker = autocannon(
      {
        url: spec.url,
        method: spec.method ?? 'POST',
        headers: spec.headers ?? {},
        ...(spec.body !== undefined ? { body: spec.body } : {}),
        requests: [request],
        connections: spec.connections,
        pipelining: 1,
        duration,
        timeout: 10,
      },
      (err, result) => (err ? reject(err) : resolve({ result, latencies })),
    );
    // autocannon's own histogram keeps whole milliseconds; these are exact.
    tracker.on('response', (_c, status, _b, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

let warm: LoadResult['warmup'] = null;
if (spec.warmup && spec.warmup > 0) {
  const { result } = await run(spec.warmup);
  warm = { requests: result.requests.total, errors: result.non2xx + result.errors + graphqlErrors };
}
graphqlErrors = 0;
await handshake('@@ready');
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const { result, latencies } = await run(spec.duration);
const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
await handshake('@@done');

latencies.sort((a, b) => a - b);
const mean = latencies.reduce((s, v) => s + v, 0) / Math.max(1, latencies.length);
const socketErrors = result.errors - result.timeouts;
const out: LoadResult = {
  requests: result.requests.total,
  durationS: result.duration,
  rps: result.requests.total / result.duration,
  latencyMs: {
    mean,
    p50: pct(latencies, 50),
    p90: pct(latencies, 90),
    p99: pct(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
  },
  non2xx: result.non2xx,
  socketErrors,
  timeouts: result.timeouts,
  graphqlErrors,
  errors: result.non2xx + result.errors + graphqlErrors,
  ...(bodies ? { bodiesUsed: next, bodiesExhausted: exhausted } : {}),
  loadCpuPct: ((cpu.user + cpu.system) / 1e6 / elapsedS) * 100,
  warmup: warm,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
