import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { loginRoleFor } from '../../src/db/migrate.js';
import { createGateway, type Gateway } from '../../src/server.js';
import {
  codeOf,
  ME,
  NO_RATE_LIMITS,
  PASSWORD,
  REFRESH,
  SIGN_IN,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';
import { freePort } from '../ports.js';
import { systemPackage } from '../system-packages.js';

/**
 * The gateway behind a real PgBouncer in transaction mode (Debian's pgbouncer, started
 * here): the core flows, two instances, and claims that never leak between requests that
 * share server connections. `.ci/run` installs pgbouncer; where it cannot be installed
 * these tests are skipped with a message, except under CI=true, where they are required.
 */
const PGBOUNCER = systemPackage('pgbouncer', ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'], 'pooler');

describe.skipIf(!PGBOUNCER)('behind PgBouncer in transaction mode', () => {
  let t: TestGateway;
  let dir: string;
  let bouncer: ChildProcess | undefined;
  let a: Gateway;
  let b: Gateway;
  const urls: string[] = [];
  let consoleUrl = '';

  beforeAll(async () => {
    t = await startGateway();
    const db = new URL(t.dbUrl);
    const dbName = db.pathname.slice(1);
    const role = loginRoleFor(dbName);
    const secrets = await t.admin<{ name: string; value: string }[]>`
      select name, value from authgate_private.secrets where name in ('login_password', 'auth_login_password')`;
    const pw = (n: string) => secrets.find((s) => s.name === n)!.value;

    dir = await mkdtemp(join(tmpdir(), 'authgate-pgbouncer-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'userlist.txt'),
      `"${role}" "${pw('login_password')}"\n"${role}_auth" "${pw('auth_login_password')}"\n`,
    );
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `${dbName} = host=127.0.0.1 port=${db.port} dbname=${dbName}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = scram-sha-256',
        `auth_file = ${join(dir, 'userlist.txt')}`,
        'pool_mode = transaction',
        'default_pool_size = 4',
        'max_client_conn = 200',
        'ignore_startup_parameters = extra_float_digits',
        `admin_users = ${role}`,
        `pidfile = ${join(dir, 'pgbouncer.pid')}`,
        '',
      ].join('\n'),
    );
    // PgBouncer refuses to run as root; as root, it runs as the postgres user that the
    // embedded Postgres already uses.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chmodSync(dir, 0o700);
      for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, f), uid, gid);
    }
    consoleUrl = `postgres://${role}:${encodeURIComponent(pw('login_password'))}@127.0.0.1:${port}/pgbouncer`;
    bouncer = spawn(PGBOUNCER!, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], {
      stdio: 'ignore',
    });
    await waitForPort(port);

    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      ...NO_RATE_LIMITS,
      SECRETS_KEY: t.secretsKey,
      DATABASE_POOL_URL: `postgres://127.0.0.1:${port}/${dbName}`,
      // Debian's PgBouncer (1.18) carries no prepared statements in transaction mode.
      DB_PREPARE: 'false',
    });
    a = await createGateway(config, t.dbUrl);
    b = await createGateway(config, t.dbUrl);
    for (const g of [a, b]) urls.push(`http://127.0.0.1:${await g.listen(0, '127.0.0.1')}/graphql`);
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    bouncer?.kill('SIGTERM');
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const gql = async (i: number, query: string, variables: Record<string, unknown> = {}, token?: string) => {
    const res = await fetch(urls[i % 2]!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...((await res.json()) as { data?: any; errors?: any[] }) };
  };

  it('connects through the pooler, not around it', async () => {
    expect((await gql(0, '{ __typename }')).status).toBe(200);
    expect((await gql(1, SIGN_IN, { input: { email: 'nobody@example.com', password: PASSWORD } })).status).toBe(200);
    // PgBouncer's own console lists both pools of both gateways as its clients.
    const admin = postgres(consoleUrl, { max: 1, prepare: false, fetch_types: false, onnotice: () => {} });
    try {
      const clients = await admin.unsafe<{ user: string; database: string }[]>('SHOW CLIENTS');
      const users = new Set(clients.filter((c) => c.database !== 'pgbouncer').map((c) => c.user));
      const role = new URL(consoleUrl).username;
      expect(users).toEqual(new Set([role, `${role}_auth`]));
    } finally {
      await admin.end();
    }
  });

  it('runs the core flows: sign-up, sign-in, refresh, me, profiles, updateProfile, sign-out', async () => {
    const up = await gql(
      0,
      'mutation ($e: String!, $p: String!) { signUp(input: { email: $e, password: $p, data: { username: "pooled_user" } }) { accessToken refreshToken user { id } } }',
      {
        e: 'pooled@example.com',
        p: PASSWORD,
      },
    );
    expect(up.errors).toBeUndefined();
    const s = up.data!.signUp;
    const inn = await gql(1, SIGN_IN, { input: { email: 'pooled@example.com', password: PASSWORD } });
    expect(inn.errors).toBeUndefined();
    const re = await gql(0, REFRESH, { token: s.refreshToken });
    expect(re.errors).toBeUndefined();
    const me = await gql(1, ME, {}, re.data!.refresh.accessToken);
    expect(me.data!.me).toMatchObject({ id: s.user.id, profile: { username: 'pooled_user' } });
    const upd = await gql(0, 'mutation { updateProfile(input: { isPublic: false }) { isPublic } }', {}, s.accessToken);
    expect(upd.data).toEqual({ updateProfile: { isPublic: false } });
    const anon = await gql(1, '{ profile(username: "pooled_user") { id } }');
    expect(anon.data).toEqual({ profile: null });
    expect((await gql(0, 'mutation { signOut }', {}, s.accessToken)).data).toEqual({ signOut: true });
    expect(codeOf((await gql(1, ME, {}, s.accessToken)) as never)).toBe('UNAUTHENTICATED');
  });

  it('never leaks claims between requests that share server connections', async () => {
    const users = await Promise.all([signUp(t), signUp(t), signUp(t)]);
    let mismatches = 0;
    const total = 300;
    const results = await Promise.all(
      Array.from({ length: total }, async (_, i) => {
        const u = users[i % users.length]!;
        const r = await gql(i, '{ me { id } }', {}, u.accessToken);
        if (r.data?.me?.id !== u.userId) mismatches++;
        return r.status;
      }),
    );
    console.log('[pooler]', JSON.stringify({ requests: total, users: users.length, instances: 2, mismatches }));
    expect(results.every((s) => s === 200)).toBe(true);
    expect(mismatches).toBe(0);
  });

  it('keeps one live refresh chain when both instances refresh one token at once', async () => {
    const s = await signUp(t);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => gql(i, REFRESH, { token: s.refreshToken })));
    expect(results.every((r) => r.status === 200 && !r.errors)).toBe(true);
    expect(new Set(results.map((r) => r.data!.refresh.refreshToken)).size).toBe(1);
    const [row] =
      await t.admin`select count(*)::int n from auth.refresh_tokens where user_id = ${s.userId} and spent_at is null`;
    expect(row!.n).toBe(1);
  });
});

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.end();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pgbouncer did not listen on ${port}`);
}
