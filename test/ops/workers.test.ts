import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../src/testing/index.js';
import { email, type GqlResponse, PASSWORD, SIGN_UP } from '../helpers.js';
import { freePort } from '../ports.js';

/**
 * WORKERS=2: one primary forks two gateways behind one port. Each new connection may land on
 * either, so what one worker does (a sign-out) must hold on the other at once, /metrics must
 * count both, a worker that dies is replaced, and SIGTERM to the primary ends all of them.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const METRICS_TOKEN = 'workers-test-metrics-token-of-32-chars-or-more';
let database: { url: string; drop: () => Promise<void> };
let primary: ChildProcess;
let port: number;
let output = '';

/** Resolves once the output matches `re` (at least `count` times), or fails after `ms`. */
async function waitOutput(re: RegExp, count = 1, ms = 60_000): Promise<RegExpMatchArray[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const found = [...output.matchAll(new RegExp(re.source, 'g'))];
    if (found.length >= count) return found;
    if (primary.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${count}× ${re} in the output:\n${output}`);
}

/** One request on a connection of its own (no keep-alive), so requests spread over workers. */
function post(body: unknown, token?: string, path = '/graphql'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: body === undefined ? 'GET' : 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const gql = async (query: string, variables?: Record<string, unknown>, token?: string) =>
  JSON.parse((await post({ query, variables }, token)).text) as GqlResponse;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  database = await createTestDatabase(inject('adminUrl'));
  port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: database.url,
    WORKERS: '2',
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'test',
    SMTP_URL: 'smtp://127.0.0.1:9',
    METRICS_TOKEN,
    LOG_LEVEL: 'silent',
  };
  delete env.npm_lifecycle_event;
  delete env.UV_THREADPOOL_SIZE;
  primary = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer) => {
    output += d.toString();
  };
  primary.stdout?.on('data', keep);
  primary.stderr?.on('data', keep);
  await waitOutput(/2 workers listening/);
}, 90_000);

afterAll(async () => {
  if (primary && primary.exitCode === null) primary.kill('SIGKILL');
  for (const [, pid] of output.matchAll(/worker (\d+) listening/g)) if (alive(Number(pid))) process.kill(Number(pid));
  await database?.drop();
});

it('serves from two processes, and a sign-out on one ends the session on both', async () => {
  const workers = (await waitOutput(/worker (\d+) listening/, 2)).map((m) => Number(m[1]));
  expect(new Set(workers).size).toBe(2);
  expect(workers.every(alive)).toBe(true);

  const up = await gql(SIGN_UP, { input: { email: email('workers'), password: PASSWORD } });
  const token = (up.data?.signUp as { accessToken: string } | undefined)?.accessToken;
  expect(token).toBeTypeOf('string');
  const me = async () => (await gql('query WorkersMe { me { id } }', {}, token)).data?.me;
  // Each on a new connection: with two workers, both verify (and cache) the token.
  const before = await Promise.all(Array.from({ length: 20 }, me));
  expect(before.every((m) => m !== null && m !== undefined)).toBe(true);

  expect((await gql('mutation { signOut }', {}, token)).data).toEqual({ signOut: true });
  const after = await Promise.all(
    Array.from({ length: 20 }, async () => (await gql('query WorkersMe { me { id } }', {}, token)).errors?.[0]),
  );
  expect(after.map((e) => e?.extensions?.code)).toEqual(Array(20).fill('UNAUTHENTICATED'));

  // /metrics counts the requests of both workers, whichever one answers the scrape.
  const metrics = await post(undefined, METRICS_TOKEN, '/metrics');
  expect(metrics.status).toBe(200);
  const counted = [
    ...metrics.text.matchAll(/^authgate_graphql_request_duration_seconds_count\{operation="WorkersMe",[^}]*\} (\d+)/gm),
  ]
    .map((m) => Number(m[1]))
    .reduce((a, b) => a + b, 0);
  expect(counted).toBe(40);
});

// Set by the primary before it forks, so a worker's libuv reads it at start on every Node
// version (test/ops/threadpool.test.ts shows the size it gives; src/threadpool.ts says why).
it("starts each worker with libuv's pool one thread larger than ARGON2_MAX_CONCURRENT", async () => {
  const workers = (await waitOutput(/worker (\d+) listening/, 2)).map((m) => Number(m[1]));
  const startEnv = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  expect(workers.map((pid) => startEnv(pid).filter((v) => v.startsWith('UV_THREADPOOL_SIZE=')))).toEqual([
    ['UV_THREADPOOL_SIZE=3'],
    ['UV_THREADPOOL_SIZE=3'],
  ]);
});

it('replaces a worker that dies, and SIGTERM to the primary stops every process', async () => {
  const [victim] = (await waitOutput(/worker (\d+) listening/, 2)).map((m) => Number(m[1]));
  process.kill(victim!, 'SIGKILL');
  await waitOutput(/worker \d+ took its place/);
  const workers = [...new Set((await waitOutput(/worker (\d+) listening/, 3)).map((m) => Number(m[1])))].filter(
    (pid) => pid !== victim,
  );
  expect(workers.every(alive)).toBe(true);
  expect((await gql('{ __typename }')).data).toEqual({ __typename: 'Query' });

  const exited = new Promise<number | null>((r) => primary.once('exit', (code) => r(code)));
  primary.kill('SIGTERM');
  expect(await exited).toBe(0);
  await new Promise((r) => setTimeout(r, 200));
  expect(workers.filter(alive)).toEqual([]);
}, 60_000);
