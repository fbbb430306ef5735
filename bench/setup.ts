/**
 * The bench's database: Postgres (embedded in the temp dir, or BENCH_DATABASE_URL), the seeded
 * users, profiles and notes, refresh tokens made with SQL, and the login role the gateway uses.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import argon2 from 'argon2';
import type postgres from 'postgres';
import { freePort } from './proc.js';
import { held, log } from './servers.js';

export const PASSWORD = 'bench-password-123';
export const ARGON2 = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
export const NOTES_PER_USER = 3;

/** A superuser URL: BENCH_DATABASE_URL, or an embedded cluster in `dataDir` (stopped by cleanup()). */
export async function startPostgres(dataDir: string): Promise<string> {
  const external = process.env.BENCH_DATABASE_URL;
  if (external) {
    log('Postgres: BENCH_DATABASE_URL');
    return external;
  }
  const { startEmbedded } = await import('../src/db/embedded.js');
  const pgPort = await freePort();
  held.embedded = await startEmbedded({ dataDir, port: pgPort, persistent: false });
  log(`Postgres: embedded on 127.0.0.1:${pgPort}`);
  return held.embedded.url;
}

export const emailOf = (tag: string, i: number) => `u${i}@${tag}.bench.test`;

/**
 * `users` users with profiles (30 % private) and NOTES_PER_USER notes each (30 % public), all
 * sharing one password hash, with plain SQL as the admin role. The viewer is user `users`,
 * the oldest, whose profile is private. Returns the viewer's id.
 */
export async function seed(admin: postgres.Sql, tag: string, users: number, hash: string): Promise<string> {
  await admin.begin(async (tx) => {
    await tx`create temp table bench_seed on commit drop as
      select i, gen_random_uuid() as id, format('u%s@%s.bench.test', i, ${tag}::text) as email,
             now() - make_interval(mins => i) - (i * 7919 % 1000000) * interval '1 microsecond' as ts
      from generate_series(1, ${users}::int) as i`;
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
             case when s.i = ${users}::int then k = 1 else (s.i * 7 + k) % 10 < 3 end,
             s.ts + make_interval(secs => k)
      from bench_seed s cross join generate_series(1, ${NOTES_PER_USER}::int) as k`;
  });
  const [viewer] = await admin<{ id: string }[]>`select id from auth.users where email = ${emailOf(tag, users)}`;
  log(
    `seeded ${users} users and profiles (30% private), ${NOTES_PER_USER} notes each (30% public); viewer = oldest user, private profile`,
  );
  return viewer!.id;
}

/**
 * Makes refresh tokens that are each used once: sessions and token hashes inserted with SQL,
 * the GraphQL bodies that spend them returned. Users are taken in turn.
 */
export function refreshTokenMaker(
  admin: postgres.Sql,
  userIds: string[],
  bodyOf: (refreshToken: string) => string,
): { make: (n: number) => Promise<string[]>; made: () => number } {
  let made = 0;
  return {
    made: () => made,
    async make(n) {
      const out: string[] = [];
      for (let done = 0; done < n; done += 5000) {
        const k = Math.min(5000, n - done);
        const sessions: string[] = [];
        const users: string[] = [];
        const hashes: string[] = [];
        for (let j = 0; j < k; j++) {
          const t = randomBytes(32).toString('base64url');
          out.push(bodyOf(t));
          sessions.push(randomUUID());
          users.push(userIds[(made + j) % userIds.length]!);
          hashes.push(createHash('sha256').update(t).digest('hex'));
        }
        made += k;
        await admin`insert into auth.sessions (id, user_id)
          select * from unnest(${sessions}::uuid[], ${users}::uuid[])`;
        await admin`insert into auth.refresh_tokens (token_hash, user_id, session_id, expires_at)
          select h, u, s, now() + interval '30 days' from unnest(${hashes}::text[], ${users}::uuid[], ${sessions}::uuid[]) as x(h, u, s)`;
      }
      return out;
    },
  };
}

/**
 * The URL the gateway's own login role connects with (password from authgate_private.secrets),
 * for the floor and PostGraphile: exactly as privileged as the gateway, not a superuser.
 */
export async function loginUrlOf(admin: postgres.Sql, adminUrl: string): Promise<string> {
  const [pw] = await admin<
    { value: string }[]
  >`select value from authgate_private.secrets where name = 'login_password'`;
  const url = new URL(adminUrl);
  url.username = await gatewayLoginRole(admin);
  url.password = pw!.value;
  return url.toString();
}

/**
 * The role the gateway logs in as (authgate_authenticator, or a per-database login role that
 * is a member of it): read from the gateway's own connections.
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
