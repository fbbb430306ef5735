import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, ME, SIGN_IN, startGateway, type TestGateway } from '../helpers.js';

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
      'keys:rotate',
      'keys:service-role',
      'db:migrate',
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
});
