import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../src/db/connect.js';
import { startEmbedded } from '../../src/db/embedded.js';
import { codeOf, ME, SIGN_IN, startGateway, type TestGateway } from '../helpers.js';
import { freePort } from '../ports.js';

const run = promisify(execFile);

describe('npx authgate', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway();
  });
  afterAll(async () => {
    await t?.close();
  });

  const cli = async (...args: string[]) => cliWith({}, ...args);
  const cliWith = async (env: Record<string, string>, ...args: string[]) => {
    try {
      const { stdout, stderr } = await run('node', ['bin/authgate.mjs', ...args], {
        env: { ...process.env, DATABASE_URL: t.dbUrl, SECRETS_KEY: t.secretsKey, ...env },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('lists its commands, and each command explains itself', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    for (const c of [
      'users:list',
      'users:create',
      'users:ban',
      'users:delete',
      'users:import',
      'keys:rotate',
      'keys:service-role',
      'db:migrate',
      'db:url',
      'doctor',
    ]) {
      expect(help.stdout).toContain(c);
      const own = await cli(c, '--help');
      expect(own.code).toBe(0);
      expect(own.stdout).toContain(`authgate ${c}`);
    }
    expect((await cli('nope')).code).toBe(2);
    expect((await cli('users:create', '--email', 'x@example.com')).stderr).toContain('--password is required');
  }, 120_000);

  it('creates a confirmed user where emails must be confirmed (the operator vouches for it)', async () => {
    const created = await cliWith(
      { REQUIRE_EMAIL_CONFIRMATION: 'true', LOG_LEVEL: 'silent' },
      'users:create',
      '--email',
      'confirmed-by-ops@example.com',
      '--password',
      'correct horse battery',
    );
    expect(created.code).toBe(0);
    const [row] = await t.admin`
      select email_confirmed_at is not null as confirmed from auth.users where email = 'confirmed-by-ops@example.com'`;
    expect(row?.confirmed).toBe(true);
  }, 60_000);

  it('creates an admin, lists, bans and deletes users, with effect on the API', async () => {
    const created = await cli(
      'users:create',
      '--email',
      'Ops@Example.com',
      '--password',
      'correct horse battery',
      '--admin',
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/created [0-9a-f-]{36} ops@example\.com \(admin\)/);

    const signIn = await t.gql(SIGN_IN, { input: { email: 'ops@example.com', password: 'correct horse battery' } });
    const token = signIn.data!.signIn.accessToken as string;
    const me = await t.gql(ME, {}, token);
    expect(me.data!.me.appMetadata).toMatchObject({ role: 'admin' });

    const list = await cli('users:list', '--search', 'ops@');
    expect(list.stdout).toContain('ops@example.com');

    expect((await cli('users:ban', '--email', 'ops@example.com')).code).toBe(0);
    expect(codeOf(await t.gql(ME, {}, token))).toBe('UNAUTHENTICATED');
    expect((await cli('users:ban', '--email', 'ops@example.com', '--hours', '0')).stdout).toContain('unbanned');

    expect((await cli('users:delete', '--email', 'ops@example.com')).code).toBe(0);
    const [row] = await t.admin`select count(*)::int n from auth.users where email = 'ops@example.com'`;
    expect(row!.n).toBe(0);
    expect((await cli('users:delete', '--email', 'ops@example.com')).code).toBe(2);
  }, 120_000);

  it('runs the RLS doctor: clean on our schema, exit 1 on a table without RLS', async () => {
    const clean = await cli('doctor');
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('no findings');
    await t.admin`create table public.cli_open (id int primary key)`;
    try {
      const dirty = await cli('doctor');
      expect(dirty.code).toBe(1);
      expect(dirty.stdout).toContain('public.cli_open');
      expect(dirty.stdout).toContain('ENABLE ROW LEVEL SECURITY');
    } finally {
      await t.admin`drop table public.cli_open`;
    }
  }, 120_000);

  it('db:url prints the admin URL, which postgres.js connects with', async () => {
    const printed = await cli('db:url');
    expect(printed.code).toBe(0);
    const url = printed.stdout.trim();
    expect(url).toBe(t.dbUrl);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      expect((await sql`select current_user as who`)[0]?.who).toBeTruthy();
    } finally {
      await sql.end();
    }
    const help = await cli('db:url', '--help');
    expect(help.stdout).toContain('password');
    expect(help.stdout).toContain('psql "$(npx authgate db:url)"');
  });
});

/** The CLI without DATABASE_URL, on the embedded Postgres of a DATA_DIR of its own. */
const bare = async (env: Record<string, string>, ...args: string[]) => {
  const base = { ...process.env };
  delete base.DATABASE_URL;
  delete base.TEST_DATABASE_URL;
  try {
    const { stdout, stderr } = await run('node', ['bin/authgate.mjs', ...args], {
      env: { ...base, LOG_LEVEL: 'silent', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

describe('npx authgate, when the database is out of reach', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'authgate-cli-'));
    await chmod(dataDir, 0o755); // as root, Postgres runs as `postgres` and must reach it
  });
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const oneLine = (r: { code: number; stdout: string; stderr: string }) => {
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain('unknown error');
    expect(r.stderr).not.toContain('TypeError');
  };

  it('says so in one line, without a stack or the password, for every database command', async () => {
    const url = `postgres://ops:hunter2secret@127.0.0.1:${await freePort()}/nowhere`;
    for (const args of [
      ['users:list'],
      ['users:create', '--email', 'x@example.com', '--password', 'correct horse battery'],
      ['users:ban', '--email', 'x@example.com'],
      ['users:delete', '--id', '00000000-0000-0000-0000-000000000000'],
      ['keys:rotate'],
      ['keys:service-role'],
      ['db:migrate'],
      ['doctor'],
    ]) {
      const r = await bare({ DATABASE_URL: url }, ...args);
      oneLine(r);
      expect(r.stderr).toContain(`authgate ${args[0]}:`);
      expect(r.stderr).toContain('cannot reach the database at 127.0.0.1:');
      expect(r.stderr).not.toContain('hunter2secret');
    }
  }, 120_000);

  it('names EMBEDDED_PG_PORT when the embedded Postgres cannot take its port', async () => {
    const taken = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const r = await bare({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port) }, 'users:list');
      oneLine(r);
      expect(r.stderr).toContain(`port ${port} is in use (another authgate? set EMBEDDED_PG_PORT)`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 60_000);

  it('db:url gives the running embedded Postgres on its socket, a URL psql and postgres.js connect with', async () => {
    const env = { DATA_DIR: dataDir };
    const missing = await bare(env, 'db:url');
    oneLine(missing);
    expect(missing.stderr).toContain(`is not running on its socket in ${dataDir}/pg`);
    const db = await startEmbedded({ dataDir });
    try {
      const printed = await bare(env, 'db:url');
      expect(printed.code).toBe(0);
      const url = printed.stdout.trim();
      expect(url).toMatch(new RegExp(`^postgresql://postgres:[^@]+@localhost/postgres\\?host=${dataDir}/pg$`));
      const sql = connectPostgres(url, { max: 1, onnotice: () => {} });
      try {
        expect((await sql`select 1 as one, inet_server_addr() as addr`)[0]).toEqual({ one: 1, addr: null });
      } finally {
        await sql.end();
      }
      const psql = await run('psql', [url, '-Atc', 'select 1'], { timeout: 10_000 }).catch((err) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      });
      if (psql) expect(psql.stdout.trim()).toBe('1');
      else console.warn('cli.test: no psql on PATH, the printed URL was not tried with psql');
    } finally {
      await db.stop();
    }
  }, 120_000);

  it('db:url gives the embedded Postgres on 127.0.0.1:EMBEDDED_PG_PORT when that is set', async () => {
    const port = await freePort();
    const env = { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port) };
    oneLine(await bare(env, 'db:url'));
    const db = await startEmbedded({ dataDir, port });
    try {
      const printed = await bare(env, 'db:url');
      expect(printed.code).toBe(0);
      expect(printed.stdout.trim()).toMatch(new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${port}/postgres$`));
      const sql = postgres(printed.stdout.trim(), { max: 1, onnotice: () => {} });
      try {
        expect((await sql`select 1 as one`)[0]?.one).toBe(1);
      } finally {
        await sql.end();
      }
    } finally {
      await db.stop();
    }
  }, 120_000);
});
