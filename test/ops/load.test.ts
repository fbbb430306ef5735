import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/server.js';
import {
  codeOf,
  email,
  ME,
  NO_RATE_LIMITS,
  PASSWORD,
  REFRESH,
  SIGN_IN,
  SIGN_UP,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';

/**
 * Load without loss, and two instances on one database. Sizes are small enough for
 * `npm test`; `npm run test:reliability` runs them at the sizes of RELIABILITY.md.
 */
const FULL = process.env.RELIABILITY_FULL === '1';
const SIGNUPS = FULL ? 2000 : 300;
const TOKEN_OPS = FULL ? 500 : 200;
// Cheaper hashes, so the runs measure the gateway and the database rather than argon2.
const FAST_HASH = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

/** Runs `count` jobs with at most `concurrency` in flight. */
async function pool<T>(count: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await job(i);
      }
    }),
  );
  return results;
}

const tally = (codes: unknown[]) =>
  codes.reduce<Record<string, number>>((acc, c) => {
    const k = String(c ?? 'ok');
    acc[k] = (acc[k] ?? 0) + 1;
    return acc;
  }, {});

describe('load without loss', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ ...FAST_HASH, DB_POOL_MAX: '10' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it(`${SIGNUPS} sign-ups at concurrency 50 give exactly ${SIGNUPS} users, each with one profile`, async () => {
    const tag = `storm${Date.now().toString(36)}`;
    const started = Date.now();
    const results = await pool(SIGNUPS, 50, (i) =>
      t.gql(SIGN_UP, { input: { email: `${tag}-${i}@example.com`, password: PASSWORD } }),
    );
    const seconds = (Date.now() - started) / 1000;
    const statuses = tally(results.map((r) => r.status));
    const codes = tally(results.map(codeOf));
    const [row] = await t.admin`
      select count(*)::int as users,
             count(p.id)::int as with_profile,
             (select count(*)::int from public.profiles p2 join auth.users u2 on u2.id = p2.id where u2.email like ${`${tag}-%`}) as profiles
      from auth.users u left join public.profiles p on p.id = u.id
      where u.email like ${`${tag}-%`}`;
    console.log(
      '[load] sign-ups',
      JSON.stringify({ sent: SIGNUPS, statuses, codes, seconds, perSecond: Math.round(SIGNUPS / seconds), rows: row }),
    );
    expect(codes).toEqual({ ok: SIGNUPS });
    expect(row).toEqual({ users: SIGNUPS, with_profile: SIGNUPS, profiles: SIGNUPS });
  }, 120_000);

  it('50 concurrent sign-ups with one email give one user', async () => {
    const mail = email('same');
    const results = await Promise.all(
      Array.from({ length: 50 }, () => t.gql(SIGN_UP, { input: { email: mail, password: PASSWORD } })),
    );
    const codes = tally(results.map(codeOf));
    console.log('[load] same email', JSON.stringify(codes));
    expect(codes).toEqual({ ok: 1, EMAIL_TAKEN: 49 });
    expect(results.every((r) => r.status === 200)).toBe(true);
    const [row] = await t.admin`select count(*)::int n from auth.users where email = ${mail}`;
    expect(row!.n).toBe(1);
  });

  it(`${TOKEN_OPS} concurrent sign-ins and refreshes: no 5xx, and every issued token works`, async () => {
    const users = await pool(20, 10, () => signUp(t));
    const results = await pool(TOKEN_OPS, 50, async (i) => {
      const u = users[i % users.length]!;
      const res =
        i % 2 === 0
          ? await t.gql(SIGN_IN, { input: { email: u.email, password: PASSWORD } })
          : await t.gql(REFRESH, {
              token: (await t.gql(SIGN_IN, { input: { email: u.email, password: PASSWORD } })).data!.signIn
                .refreshToken,
            });
      return res;
    });
    const statuses = tally(results.map((r) => r.status));
    const codes = tally(results.map(codeOf));
    const tokens = results.map((r) => (r.data?.signIn ?? r.data?.refresh)?.accessToken as string | undefined);
    const working = await pool(tokens.length, 25, async (i) => {
      const token = tokens[i];
      if (!token) return false;
      const me = await t.gql(ME, {}, token);
      return me.data?.me?.id === decodeJwt(token).sub;
    });
    console.log(
      '[load] tokens',
      JSON.stringify({ sent: TOKEN_OPS, statuses, codes, working: working.filter(Boolean).length }),
    );
    expect(Object.keys(statuses)).toEqual(['200']);
    expect(codes).toEqual({ ok: TOKEN_OPS });
    expect(working.every(Boolean)).toBe(true);
  }, 120_000);
});

describe('two instances on one database', () => {
  let a: TestGateway;
  let b: Gateway;
  let bUrl: string;
  beforeAll(async () => {
    a = await startGateway();
    b = await createGateway(
      loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...NO_RATE_LIMITS, SECRETS_KEY: a.secretsKey }),
      a.dbUrl,
    );
    bUrl = `http://127.0.0.1:${await b.listen(0, '127.0.0.1')}/graphql`;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const viaB = async (query: string, variables: Record<string, unknown> = {}, token?: string) => {
    const res = await fetch(bUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...((await res.json()) as { data?: any; errors?: any[] }) };
  };

  it('accepts on one instance the tokens the other issued', async () => {
    const s = await signUp(a);
    expect((await viaB(ME, {}, s.accessToken)).data?.me?.id).toBe(s.userId);
    const refreshed = await viaB(REFRESH, { token: s.refreshToken });
    expect((await a.gql(ME, {}, refreshed.data!.refresh.accessToken)).data?.me?.id).toBe(s.userId);
  });

  it('keeps one live chain when both instances refresh one token at once', async () => {
    const s = await signUp(a);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0 ? a.gql(REFRESH, { token: s.refreshToken }) : viaB(REFRESH, { token: s.refreshToken }),
      ),
    );
    expect(results.every((r) => r.status === 200 && !r.errors)).toBe(true);
    expect(new Set(results.map((r) => r.data!.refresh.refreshToken)).size).toBe(1);
    const [row] =
      await a.admin`select count(*)::int n from auth.refresh_tokens where user_id = ${s.userId} and spent_at is null`;
    expect(row!.n).toBe(1);
  });

  it('detects reuse across instances', async () => {
    const s = await signUp(a);
    const child = (await a.gql(REFRESH, { token: s.refreshToken })).data!.refresh;
    await a.admin`update auth.refresh_tokens set spent_at = now() - interval '11 seconds' where user_id = ${s.userId} and spent_at is not null`;
    expect((await viaB(REFRESH, { token: s.refreshToken })).errors?.[0]?.extensions?.code).toBe(
      'INVALID_REFRESH_TOKEN',
    );
    expect(codeOf(await a.gql(ME, {}, child.accessToken))).toBe('UNAUTHENTICATED');
  });

  it('revokes on one instance what was signed out on the other, at the next request', async () => {
    const s = await signUp(a);
    expect((await viaB(ME, {}, s.accessToken)).data?.me?.id).toBe(s.userId);
    await a.gql('mutation { signOut }', {}, s.accessToken);
    expect((await viaB(ME, {}, s.accessToken)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
