/** Shapes and rendering of the bench results (stdout table, bench/results.md). */

/** The app scenario's label, also its row in the round-trip table (bench/run.ts counts it). */
export const PROFILES_NOTES = 'profiles(first: 20) { notes(first: 5) } + me { notes(first: 5) }';

export type Server =
  | 'gateway'
  | 'gateway-2w'
  | 'yoga-alone'
  | 'floor-awaited'
  | 'floor-pipelined'
  | 'postgraphile'
  | 'postgraphile-cached';

export type RunRow = {
  key: string;
  label: string;
  server: Server;
  connections: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** non-2xx + socket errors + timeouts + 2xx answers carrying GraphQL errors */
  errors: number;
  non2xx: number;
  socketErrors: number;
  timeouts: number;
  graphqlErrors: number;
  serverCpuUsPerReq: number | null;
  serverCpuPct: number;
  pgCpuUsPerReq: number | null;
  loadGenCpuPct: number;
  machineBusyPct: number | null;
  rssMaxMB: number | null;
  eventLoopP99Ms: number | null;
  /** % of the machine busy with processes not of the bench, in a quiet moment just before the run. */
  idleMachineBusyPct: number | null;
  bodiesExhausted: boolean;
  warmupRequests: number;
  /** How many runs this row is the median of (by req/s), and each run's req/s in turn. */
  rounds?: number;
  roundRps?: number[];
};

export type RoundTripRow = {
  query: string;
  statements: number | null;
  roundTrips: number | null;
  criticalPath: number | null;
  /** Socket writes to Postgres grouped per event-loop turn (sees Describe/Bind splits too). */
  wireRoundTrips: number | null;
  wireCriticalPath: number | null;
  stable: boolean;
  batches: string[][];
  error?: string;
};

export type Ratio = {
  key: string;
  label: string;
  connections: number;
  vsAwaited: number | null;
  vsPipelined: number | null;
  cpuVsAwaited: number | null;
  cpuVsPipelined: number | null;
  /** Gateway ÷ PostGraphile as a user writes it (every token's signature verified). */
  vsPostgraphile: number | null;
  /** Gateway ÷ PostGraphile given the gateway's token cache (the stricter comparison). */
  vsPostgraphileCached: number | null;
};

export type Target = {
  name: string;
  value: number | null;
  unit: string;
  want: string;
  status: 'PASS' | 'SHORT' | 'n/a';
  digits: number;
};

export type Results = {
  machine: { cpu: string; cores: number; node: string; totalMemGB: number; platform: string; date: string };
  versions?: { node: string; postgraphile: string | null; postgres: string | null };
  settings: Record<string, unknown>;
  runs: RunRow[];
  ratios?: Ratio[];
  roundTrips: RoundTripRow[];
  floorAnswers: Record<string, string>;
  hashLimit: { perSecond: number; verifies: number; seconds: number; otherLoadPct: number } | null;
  signIn?: { rps: number | null; ratioToHashLimit: number | null; eventLoopP99Ms: number | null };
  rss: {
    afterStartMB: number;
    /** 2 s after the last request. */
    restMB: number;
    /** After idleS of quiet, when V8's memory reducer has run; null when not waited for. */
    idleS?: number | null;
    idleMB?: number | null;
    maxUnderLoadMB: number;
    heapUsedRestMB: number;
    heapTotalRestMB: number;
    heapUsedEndMB: number;
    heapTotalEndMB: number;
    rssEndMB: number;
  };
  eventLoopIdleP99Ms: number | null;
  machineBusyBeforeRunsPct: number;
  targets?: Target[];
  totalRuntimeS: number;
};

/**
 * The run with the median req/s of a server's rounds (the lower middle of an even count), so
 * its CPU and latency belong to that same run; RSS is the most of any round.
 */
export function medianRun(runs: RunRow[]): RunRow {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (!median) throw new Error('medianRun: no runs');
  const rss = runs.map((x) => x.rssMaxMB).filter((x): x is number => x !== null);
  return {
    ...median,
    rounds: runs.length,
    roundRps: runs.map((x) => x.rps),
    rssMaxMB: rss.length > 0 ? Math.max(...rss) : null,
  };
}

const find = (r: Results, key: string, server: Server, c: number) =>
  r.runs.find((x) => x.key === key && x.server === server && x.connections === c);

const div = (a: number | null | undefined, b: number | null | undefined) =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;

// `me` sent as a trusted document does the same work as `me`: the same floor and PostGraphile rows.
const SAME_WORK: Record<string, string> = { meTrusted: 'me' };

/** Gateway ÷ floor and ÷ PostGraphile for the scenarios that have them, per concurrency. */
export function computeRatios(r: Results): Ratio[] {
  const out: Ratio[] = [];
  for (const g of r.runs.filter((x) => x.server === 'gateway')) {
    const k = SAME_WORK[g.key] ?? g.key;
    const aw = find(r, k, 'floor-awaited', g.connections);
    const pip = find(r, k, 'floor-pipelined', g.connections);
    const pgl = find(r, k, 'postgraphile', g.connections);
    const pglCached = find(r, k, 'postgraphile-cached', g.connections);
    if (!aw && !pip && !pgl && !pglCached) continue;
    out.push({
      key: g.key,
      label: g.label,
      connections: g.connections,
      vsAwaited: div(g.rps, aw?.rps),
      vsPipelined: div(g.rps, pip?.rps),
      cpuVsAwaited: div(g.serverCpuUsPerReq, aw?.serverCpuUsPerReq),
      cpuVsPipelined: div(g.serverCpuUsPerReq, pip?.serverCpuUsPerReq),
      vsPostgraphile: div(g.rps, pgl?.rps),
      vsPostgraphileCached: div(g.rps, pglCached?.rps),
    });
  }
  return out;
}

/** The round-trip rows of GraphQL queries (the request path), not the auth path's mutations. */
const queryTrips = (r: Results): RoundTripRow[] => r.roundTrips.filter((x) => !x.query.includes('(the auth path)'));

export function computeTargets(r: Results): Target[] {
  const status = (v: number | null, ok: (v: number) => boolean): Target['status'] =>
    v === null || Number.isNaN(v) ? 'n/a' : ok(v) ? 'PASS' : 'SHORT';
  const ratio = (key: string) => r.ratios?.find((x) => x.key === key && x.connections === 32)?.vsPipelined ?? null;
  const at32 = (key: string) => r.ratios?.find((x) => x.key === key && x.connections === 32);
  const vsPgl = (key: string) => at32(key)?.vsPostgraphile ?? null;
  const vsPglCached = (key: string) => at32(key)?.vsPostgraphileCached ?? null;
  const gwCpu = (key: string) => find(r, key, 'gateway', 32)?.serverCpuUsPerReq ?? null;
  const criticalOf = (query: string) => r.roundTrips.find((x) => x.query === query)?.criticalPath ?? null;
  const maxOf = (xs: Array<number | null>) =>
    xs.length === 0 || xs.some((x) => x === null) ? null : Math.max(...(xs as number[]));
  const t = (
    name: string,
    value: number | null,
    unit: string,
    want: string,
    ok: (v: number) => boolean,
    digits = 2,
  ): Target => ({ name, value, unit, want, status: status(value, ok), digits });
  return [
    t('me, c=32: gateway ÷ pipelined floor (req/s)', ratio('me'), '×', '≥ 0.6', (v) => v >= 0.6),
    t('profiles(first: 20), c=32: gateway ÷ pipelined floor', ratio('profiles20'), '×', '≥ 0.6', (v) => v >= 0.6),
    // PostGraphile as its users write it (the issue's row), then given our token cache as well:
    // the second is the stricter comparison, so both are targets.
    t('me, c=32: gateway ÷ PostGraphile (req/s)', vsPgl('me'), '×', '≥ 1.5', (v) => v >= 1.5),
    t('profiles(first: 20), c=32: gateway ÷ PostGraphile', vsPgl('profiles20'), '×', '≥ 1.5', (v) => v >= 1.5),
    t('me, c=32: gateway ÷ PostGraphile with token cache', vsPglCached('me'), '×', '≥ 1.5', (v) => v >= 1.5),
    t(
      'profiles(first: 20), c=32: gateway ÷ PostGraphile with token cache',
      vsPglCached('profiles20'),
      '×',
      '≥ 1.5',
      (v) => v >= 1.5,
    ),
    t('me, c=32: gateway server CPU per request', gwCpu('me'), 'µs', '≤ 300 µs', (v) => v <= 300, 0),
    t(
      'profiles + notes + me.notes, c=32: gateway ÷ pipelined floor',
      ratio('profilesNotes'),
      '×',
      '≥ 0.6',
      (v) => v >= 0.6,
    ),
    t(
      // An app's batched field beside ours: the page and me row, then one notes query for all owners.
      'profiles + notes + me.notes: critical path ≤ 2 round trips',
      criticalOf(PROFILES_NOTES),
      '',
      '≤ 2',
      (v) => v <= 2,
      0,
    ),
    t(
      // me and profiles alone need 1 (the table above); profiles + me { profile } and
      // profiles { notes } + me { notes } need 2.
      'critical-path round trips, worst bench query (statement batches)',
      maxOf(queryTrips(r).map((x) => x.criticalPath)),
      '',
      '≤ 2',
      (v) => v <= 2,
      0,
    ),
    t(
      'critical-path round trips, the same on the wire',
      maxOf(queryTrips(r).map((x) => x.wireCriticalPath)),
      '',
      '≤ 2',
      (v) => v <= 2,
      0,
    ),
    t('signIn c=32 ÷ hashing limit', r.signIn?.ratioToHashLimit ?? null, '×', '≥ 0.9', (v) => v >= 0.9),
    t('event-loop p99 during signIn c=32', r.signIn?.eventLoopP99Ms ?? null, 'ms', '≤ 20 ms', (v) => v <= 20, 1),
    t(
      r.rss.idleMB ? `gateway RSS at rest (${r.rss.idleS} s idle)` : 'gateway RSS at rest',
      r.rss.idleMB || r.rss.restMB || null,
      'MB',
      '≤ 120 MB',
      (v) => v <= 120,
      0,
    ),
    t('gateway RSS under load (max)', r.rss.maxUnderLoadMB || null, 'MB', '≤ 200 MB', (v) => v <= 200, 0),
  ];
}

const f = (v: number | null | undefined, d = 1) =>
  v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d);
const rps = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const SERVER: Record<Server, string> = {
  gateway: 'gateway',
  'gateway-2w': 'gateway, 2 workers',
  'yoga-alone': 'graphql-yoga alone (no database)',
  'floor-awaited': 'floor, awaited',
  'floor-pipelined': 'floor, pipelined',
  postgraphile: 'PostGraphile',
  'postgraphile-cached': 'PostGraphile, token cache',
};

const HEAD = [
  'scenario',
  'server',
  'c',
  'req/s',
  'p50 ms',
  'p99 ms',
  'errors',
  'server CPU µs/req',
  'Postgres CPU µs/req',
  'req/s ÷ floor (awaited / pipelined)',
  'req/s ÷ PostGraphile (plain / token cache)',
  'event-loop p99 ms',
];

function runCells(r: Results, x: RunRow): string[] {
  const ratio =
    x.server === 'gateway' ? r.ratios?.find((q) => q.key === x.key && q.connections === x.connections) : undefined;
  return [
    x.label,
    SERVER[x.server],
    String(x.connections),
    rps(x.rps) + (x.bodiesExhausted ? ' (tokens ran out!)' : ''),
    f(x.p50Ms, 2),
    f(x.p99Ms, 2),
    String(x.errors),
    f(x.serverCpuUsPerReq, 0),
    f(x.pgCpuUsPerReq, 0),
    ratio && (ratio.vsAwaited !== null || ratio.vsPipelined !== null)
      ? `${f(ratio.vsAwaited, 2)} / ${f(ratio.vsPipelined, 2)}`
      : '',
    ratio && (ratio.vsPostgraphile !== null || ratio.vsPostgraphileCached !== null)
      ? `${f(ratio.vsPostgraphile, 2)} / ${f(ratio.vsPostgraphileCached, 2)}`
      : '',
    f(x.eventLoopP99Ms, 1),
  ];
}

const RT_HEAD = ['query', 'statements', 'round trips', 'critical path', 'wire round trips', 'wire critical path'];

function rtCells(x: RoundTripRow): string[] {
  return [
    x.query,
    x.statements === null ? `failed: ${x.error ?? ''}` : String(x.statements),
    f(x.roundTrips, 0),
    f(x.criticalPath, 0),
    f(x.wireRoundTrips, 0),
    f(x.wireCriticalPath, 0),
  ];
}

const TARGET_HEAD = ['target', 'value', 'want', 'status'];
const targetCells = (t: Target) => [
  t.name,
  t.value === null ? '-' : `${f(t.value, t.digits)} ${t.unit}`.trim(),
  t.want,
  t.status,
];

function noiseLine(r: Results): string {
  const between = Math.max(0, ...r.runs.map((x) => x.idleMachineBusyPct ?? 0));
  const note =
    r.machineBusyBeforeRunsPct > 10 || between > 15
      ? ' Other load was running on the machine, so these numbers are noisy; run again on a quiet machine.'
      : '';
  return (
    `Other load on the machine: ${f(r.machineBusyBeforeRunsPct, 0)} % busy before the runs, ` +
    `at most ${f(between, 0)} % (not the bench's processes) in the quiet moment before a run.${note}`
  );
}

function signInLine(r: Results): string {
  return (
    `Sign-in: argon2id (m = 19456 KiB, t = 2, p = 1) verifies at ${f(r.hashLimit?.perSecond, 1)}/s on this machine ` +
    `(4 at a time in the bench process, libuv's default pool); signIn at c=32 reaches ${f(r.signIn?.rps, 1)} req/s = ` +
    `${f(r.signIn?.ratioToHashLimit, 2)} × that limit, event-loop p99 ${f(r.signIn?.eventLoopP99Ms, 1)} ms ` +
    `(prom-client's nodejs_eventloop_lag_p99_seconds, which reads ${f(r.eventLoopIdleP99Ms, 1)} ms on an idle gateway: ` +
    'it is the 10 ms sampling interval plus the lag).'
  );
}

function memoryLine(r: Results): string {
  const m = r.rss;
  const pgl = r.settings.postgraphile as { rssRestMB?: number; rssIdleMB?: number | null } | undefined;
  return (
    `Gateway RSS: ${f(m.restMB, 0)} MB 2 s after the last request (V8 heap ${f(m.heapUsedRestMB, 0)} of ${f(m.heapTotalRestMB, 0)} MB), ` +
    (m.idleMB
      ? `${f(m.idleMB, 0)} MB after ${m.idleS} s idle (V8's memory reducer has given back the young generation), `
      : '') +
    `${f(m.maxUnderLoadMB, 0)} MB at most under load (sampled every 200 ms), ${f(m.rssEndMB, 0)} MB after the last run ` +
    `(heap ${f(m.heapUsedEndMB, 0)} of ${f(m.heapTotalEndMB, 0)} MB). ` +
    `PostGraphile: ${f(pgl?.rssRestMB, 0)} MB 2 s after its last request` +
    (pgl?.rssIdleMB ? `, ${f(pgl.rssIdleMB, 0)} MB after ${m.idleS} s idle.` : '.')
  );
}

function answersLine(r: Results): string {
  const list = Object.entries(r.floorAnswers).map(([k, v]) => `${k}: ${v}`);
  return (
    'Each scenario was answered once and checked before it was loaded (no errors; the viewer where the viewer is ' +
    'asked for; 20 rows a page); the other servers’ answers against the gateway’s (the floor’s key for key, ' +
    `PostGraphile’s by the ids of its rows): ${list.join('; ') || '-'}.`
  );
}

function machineLine(r: Results): string {
  const m = r.machine;
  const v = r.versions;
  const versions = v ? `; PostGraphile ${v.postgraphile ?? '-'}, Postgres ${v.postgres ?? '-'}` : '';
  return (
    `${m.cpu}, ${m.cores} cores, ${m.totalMemGB} GB, Node ${m.node}, ${m.platform}${versions}; ${m.date}; ` +
    `${r.settings.durationS} s measured after ${r.settings.warmupS} s warm-up per run; ` +
    (Number(r.settings.rounds ?? 1) > 1
      ? `at c=32 the servers a ratio compares (gateway, floors, PostGraphile, two workers, yoga alone) run in turn ${String(r.settings.rounds)} times and each row is its server's median run by req/s (the others' req/s in results.json, roundRps); `
      : '') +
    `whole bench ${r.totalRuntimeS} s`
  );
}

/** Plain, aligned text for the terminal. */
export function renderTable(r: Results): string {
  const grid = (head: string[], body: string[][]) => {
    const w = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
    const line = (row: string[]) => row.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
    return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
  };
  return [
    grid(
      HEAD,
      r.runs.map((x) => runCells(r, x)),
    ),
    '',
    grid(RT_HEAD, r.roundTrips.map(rtCells)),
    '',
    signInLine(r),
    memoryLine(r),
    scaleLine(r),
    noiseLine(r),
    '',
    grid(TARGET_HEAD, (r.targets ?? []).map(targetCells)),
    '',
    machineLine(r),
  ].join('\n');
}

/**
 * What a second process buys: the two-worker gateway against the single one at c=32, and
 * how much of the two cores Postgres took at that rate (where the limit moves).
 */
function scaleLine(r: Results): string {
  const parts: string[] = [];
  for (const key of ['me', 'profiles20']) {
    const one = find(r, key, 'gateway', 32);
    const two = find(r, key, 'gateway-2w', 32);
    if (!one || !two) continue;
    const pgShare = (x: RunRow) =>
      x.pgCpuUsPerReq === null ? null : ((x.pgCpuUsPerReq * x.rps) / 1e6 / r.machine.cores) * 100;
    parts.push(
      `${two.label} ${rps(two.rps)} req/s with two workers against ${rps(one.rps)} with one (${f(div(two.rps, one.rps), 2)}×); ` +
        `Postgres took ${f(pgShare(one), 0)} % of the machine's cores with one worker and ${f(pgShare(two), 0)} % with two, ` +
        `the whole machine was ${f(one.machineBusyPct, 0)} % / ${f(two.machineBusyPct, 0)} % busy`,
    );
  }
  return parts.length ? `\nA second process (c=32): ${parts.join('; ')}.\n` : '';
}

/** What each server of the table does per request, and what it does not. */
export const SERVERS_TEXT = [
  '- **gateway**: the gateway (`dist/main.js`, built by `npm run build`) serving the notes app of `test/fixtures/notes` (`AUTHGATE_CONFIG`, 3 notes ' +
    'per user, 30 % public): GraphQL parse (cached), validation, its plugins (rate limits on, CSRF, armor), the token ' +
    'checked (ES256, verified tokens cached until exp), then one transaction: BEGIN; claims, role and ' +
    '`auth.require_live_session` in one statement; the SELECT(s); COMMIT, pipelined on one connection. ' +
    '*me (trusted document)* is `me` sent as a SHA-256 id of a document in the `TRUSTED_DOCUMENTS` manifest, with no text ' +
    '(the gateway runs with the manifest alongside text).',
  '- **gateway, 2 workers**: the same gateway started with `WORKERS=2`: a primary process forks two gateways that ' +
    'share its port (node:cluster), each with its own app pool of 10, on the same database. Its CPU and RSS are those ' +
    'of all three processes.',
  '- **graphql-yoga alone** (`bench/yoga-alone.ts`): not a peer, a measure of the framework: graphql-yoga on ' +
    'node:http answering `me { id email }` from a constant, with no token, no database, no plugins and no logging. ' +
    'Its CPU per request is what the framework costs before any of the gateway’s work.',
  '- **floor** (`bench/floor.ts`): the least a server must do for the same answer with the same security: node:http, ' +
    'the body parsed as JSON, the same token check and the same token cache (a Map of verified claims until exp, 5000 ' +
    'at most), the same transaction with the gateway’s identity statement byte for byte (live-session check included), ' +
    'a JSON answer shaped like the GraphQL one. No GraphQL (each route knows its document), no plugins, logging or ' +
    'metrics; for `me` and `profiles` it reads only the columns the answer needs. *awaited*: each statement awaited ' +
    '(four round trips); *pipelined*: all four sent in one tick (one). For ' +
    `\`${PROFILES_NOTES}\` it sends the gateway's statements (page, me row, then one window query for the ` +
    'notes of all 21 owners), awaited (six round trips) or pipelined (two).',
  '- **PostGraphile** (`bench/postgraphile.ts`): PostGraphile 5, Amber preset, schema `public`, served by grafserv on ' +
    'node:http as its own process, pool of 10 as the gateway’s login role; `grafast.context` checks the token with jose ' +
    'against the gateway’s JWKS and sets pgSettings `role` and `request.jwt.claims`, so the same RLS policies decide the ' +
    'rows. Its *me* is `profileByRowId(rowId: <viewer>) { rowId username }` (auth.users is not in its schema; the viewer’s ' +
    'profile is private, so RLS must see the claims to show it); its page is `allProfiles(first: 20, orderBy: ' +
    '[CREATED_AT_DESC, ROW_ID_DESC])` with the gateway’s fields (`id` is `rowId` there), cursors and pageInfo (the same 20 rows). It does not check ' +
    'that the session is live (a signed-out session is served until the token expires), has none of the gateway’s ' +
    'plugins, and awaits BEGIN, settings, SELECT and COMMIT in turn (node-postgres). *PostGraphile* verifies every ' +
    'token’s signature; *PostGraphile, token cache* keeps verified tokens until exp as the gateway does.',
];

/** The same numbers as a markdown section for the README. */
export function renderMarkdown(r: Results): string {
  const md = (head: string[], body: string[][], left = 2) =>
    [
      `| ${head.join(' | ')} |`,
      `| ${head.map((_, i) => (i < left ? '---' : '---:')).join(' | ')} |`,
      ...body.map((row) => `| ${row.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`),
    ].join('\n');
  const s = r.settings;
  const env = s.gatewayEnv as Record<string, string>;
  const poolText = (e: Record<string, string>) =>
    e.UV_THREADPOOL_SIZE
      ? `libuv's pool ${e.UV_THREADPOOL_SIZE} threads (\`UV_THREADPOOL_SIZE\`, given before start: this Node starts the pool before the gateway can size it)`
      : "libuv's pool sized by the gateway (3 threads)";
  return [
    '## Performance',
    '',
    ...(r.settings.only ? [`Partial run: only ${String(r.settings.only)}.`, ''] : []),
    `${machineLine(r)}. Postgres: ${s.database}; ${s.users} users with profiles, 30 % private. ` +
      `One gateway process (${String(s.gatewayRuns ?? '`node --import tsx src/main.ts`')}, \`NODE_ENV=${env.NODE_ENV}\`, app pool 10, ${poolText(env)}, rate limits ${s.rateLimits}); ` +
      'autocannon runs in a third process on the same cores. Server CPU = the process’s own utime + stime over the ' +
      'measured window ÷ requests; Postgres CPU likewise over the processes of the bench’s own cluster.',
    '',
    ...SERVERS_TEXT,
    '',
    answersLine(r),
    '',
    md(
      HEAD,
      r.runs.map((x) => runCells(r, x)),
    ),
    '',
    'Database round trips per GraphQL request, counted on a gateway inside the bench process: statements sent in one ' +
      'event-loop turn (postgres.js debug hook) count as one round trip; the wire columns group socket writes to ' +
      'Postgres per turn, which also shows a Parse/Describe that must be answered before Bind. The critical path leaves ' +
      'out the trailing COMMIT, which read-only requests do not wait for. signIn and refresh run on the auth path ' +
      '(its own pool and role) and wait for their COMMIT; their rows show that the audit row each writes rides in ' +
      'a batch with other statements and adds no round trip.',
    '',
    md(RT_HEAD, r.roundTrips.map(rtCells), 1),
    '',
    signInLine(r),
    '',
    memoryLine(r),
    scaleLine(r),
    '',
    noiseLine(r),
    '',
    md(TARGET_HEAD, (r.targets ?? []).map(targetCells), 1),
    '',
    'How to reproduce: `npm ci && npm run bench` (about 10 minutes; embedded Postgres in a temp dir, or ' +
      '`BENCH_DATABASE_URL=postgres://…` for a superuser of your own server). All numbers: `bench/results.json`.',
    '',
  ].join('\n');
}
