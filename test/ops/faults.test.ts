import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type EmbeddedDb, startEmbedded } from '../../src/db/embedded.js';
import { createGateway, type Gateway } from '../../src/server.js';
import { NO_RATE_LIMITS, PASSWORD } from '../helpers.js';
import { freePort } from '../ports.js';

/**
 * The database goes away under load and comes back: requests fail fast with
 * SERVICE_UNAVAILABLE, /readyz follows, the gateway recovers on its own, nothing is half
 * written. Its own Postgres cluster, so stopping it touches no other test.
 */
describe('a Postgres restart under load', () => {
  let dir: string;
  let pgPort: number;
  let db: EmbeddedDb;
  let gateway: Gateway;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'authgate-faults-'));
    pgPort = await freePort();
    db = await startEmbedded({ dataDir: dir, port: pgPort });
    gateway = await createGateway(
      loadConfig({
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        ...NO_RATE_LIMITS,
        DB_ACQUIRE_TIMEOUT_MS: '1000',
        DB_CONNECT_TIMEOUT_S: '2',
        ARGON2_MEMORY_KIB: '4096',
        ARGON2_TIME_COST: '1',
      }),
      db.url,
    );
    base = `http://127.0.0.1:${await gateway.listen(0, '127.0.0.1')}`;
  });
  afterAll(async () => {
    await gateway?.close();
    await db?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const gql = async (query: string, variables: Record<string, unknown> = {}, token?: string) => {
    const started = Date.now();
    try {
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json()) as {
        data?: any;
        errors?: Array<{ message: string; extensions?: { code?: string } }>;
      };
      return { status: res.status, body, ms: Date.now() - started };
    } catch (err) {
      return { status: 0, body: { errors: [{ message: (err as Error).name }] }, ms: Date.now() - started };
    }
  };
  const ready = async () => (await fetch(`${base}/readyz`)).status;

  it('fails fast with SERVICE_UNAVAILABLE, recovers by itself, and leaves nothing half-written', async () => {
    const signUp = await gql(
      'mutation ($e: String!, $p: String!) { signUp(input: { email: $e, password: $p }) { accessToken } }',
      { e: 'fault@example.com', p: PASSWORD },
    );
    const token = signUp.body.data.signUp.accessToken as string;

    const outcomes: Record<string, number> = {};
    let slowest = 0;
    let phase: 'before' | 'outage' | 'after' = 'before';
    let stop = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const i = n++;
        const r =
          i % 4 === 0
            ? await gql(
                'mutation ($e: String!, $p: String!) { signUp(input: { email: $e, password: $p }) { accessToken } }',
                { e: `load${w}-${i}@example.com`, p: PASSWORD },
              )
            : await gql('{ me { id } profiles(first: 5) { edges { cursor } } }', {}, token);
        const code = r.body.errors?.[0]?.extensions?.code ?? (r.body.errors ? r.body.errors[0]!.message : 'ok');
        const key = `${phase}:${r.status}:${code}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        if (phase !== 'before') slowest = Math.max(slowest, r.ms);
        if (r.status === 0 || r.status >= 500) await new Promise((res) => setTimeout(res, 50));
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 1000));

    phase = 'outage';
    await db.stop();
    await new Promise((r) => setTimeout(r, 1500));
    const readyDuringOutage = await ready();

    const restartedAt = Date.now();
    db = await startEmbedded({ dataDir: dir, port: pgPort });
    phase = 'after';
    let recoveredMs = -1;
    while (Date.now() - restartedAt < 20_000) {
      const r = await gql('{ me { id } }', {}, token);
      if (r.status === 200 && r.body.data?.me?.id) {
        recoveredMs = Date.now() - restartedAt;
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(workers);
    const readyAfter = await ready();

    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [c] = await admin`
        select (select count(*) from auth.users)::int as users,
               (select count(*) from public.profiles)::int as profiles,
               (select count(*) from auth.users u where not exists (select 1 from public.profiles p where p.id = u.id))::int as without_profile,
               (select count(*) from auth.users u where not exists (select 1 from auth.identities i where i.user_id = u.id))::int as without_identity,
               (select count(*) from auth.users u where not exists (select 1 from auth.sessions s where s.user_id = u.id))::int as without_session`;
      console.log(
        '[faults]',
        JSON.stringify({
          outcomes,
          slowestSinceOutageMs: slowest,
          readyDuringOutage,
          readyAfter,
          recoveredMs,
          rows: c,
        }),
      );

      expect(outcomes['before:200:ok']).toBeGreaterThan(0);
      expect(outcomes['after:200:ok']).toBeGreaterThan(0);
      // Every failure is the coded one: no masked 500, no hang, no dropped connection.
      for (const key of Object.keys(outcomes)) {
        expect(key).toMatch(/:(200:ok|503:SERVICE_UNAVAILABLE)$/);
      }
      expect(Object.keys(outcomes).some((k) => k.endsWith('503:SERVICE_UNAVAILABLE'))).toBe(true);
      expect(slowest).toBeLessThan(8000);
      expect(readyDuringOutage).toBe(503);
      expect(readyAfter).toBe(200);
      expect(recoveredMs).toBeGreaterThanOrEqual(0);
      expect(recoveredMs).toBeLessThan(10_000);
      // A user exists only with its profile, identity and first session: all or nothing.
      expect(c).toMatchObject({ without_profile: 0, without_identity: 0, without_session: 0 });
      expect(c!.users).toBe(c!.profiles);
    } finally {
      await admin.end();
    }
  }, 90_000);
});
