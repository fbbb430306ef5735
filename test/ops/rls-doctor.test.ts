import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bareAuthCalls,
  type Finding,
  formatFindings,
  orgHelperColumns,
  runDoctor,
  uidComparedColumns,
} from '../../src/ops/rls-doctor.js';
import { startGateway, type TestGateway } from '../helpers.js';
import { freePort } from '../ports.js';

/**
 * The RLS doctor against a real migrated database: the project's own schema comes out clean,
 * and each seeded mistake is reported with a fix that, run as is, makes the finding go away.
 */

const run = promisify(execFile);

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway();
});

afterAll(async () => {
  await t?.close();
});

const find = (findings: Finding[], check: string, object: string) =>
  findings.filter((f) => f.check === check && f.object === object);

/**
 * Asserts exactly one `check` finding on `object` at `level` whose fix contains `fix`, runs
 * that fix as the admin, and asserts the finding is gone. Returns the finding.
 */
async function reportedThenFixed(
  check: string,
  object: string,
  level: Finding['level'],
  fix: string | RegExp,
  schemas?: string[],
): Promise<Finding> {
  const before = find(await runDoctor(t.admin, schemas ? { schemas } : {}), check, object);
  expect(before, `${check} ${object}`).toHaveLength(1);
  const f = before[0]!;
  expect(f.level).toBe(level);
  expect(f.why.length).toBeGreaterThan(20);
  if (typeof fix === 'string') expect(f.fix).toContain(fix);
  else expect(f.fix).toMatch(fix);
  await t.admin.unsafe(f.fix);
  expect(find(await runDoctor(t.admin, schemas ? { schemas } : {}), check, object)).toEqual([]);
  return f;
}

/**
 * Creates public.`table` from `ddl` with forced RLS, expects each column reported as
 * policy-column-unindexed naming its policy, runs each fix, expects a clean database, and
 * drops the table whatever happened.
 */
async function unindexedThenFixed(
  table: string,
  ddl: string,
  columns: { column: string; policy: string; says: string }[],
): Promise<void> {
  await t.admin.unsafe(`${ddl}
    alter table public.${table} enable row level security;
    alter table public.${table} force row level security;`);
  try {
    for (const c of columns) {
      const f = await reportedThenFixed(
        'policy-column-unindexed',
        `public.${table}.${c.column}`,
        'warning',
        `CREATE INDEX ON public.${table} (${c.column});`,
      );
      expect(f.why).toContain(c.policy);
      expect(f.why).toContain(c.says);
    }
    expect(await runDoctor(t.admin)).toEqual([]);
  } finally {
    await t.admin.unsafe(`drop table if exists public.${table}`);
  }
}

describe('the project schema', () => {
  it('has no findings at all on a fresh migrated database', async () => {
    const findings = await runDoctor(t.admin);
    expect(formatFindings(findings)).toBe('no findings');
    expect(findings).toEqual([]);
  });

  it('refuses a schema that does not exist rather than checking nothing', async () => {
    await expect(runDoctor(t.admin, { schemas: ['pubic'] })).rejects.toThrow(/schema pubic does not exist/);
  });

  it('leaves the database untouched (read-only transaction, search_path restored)', async () => {
    const [before] = await t.admin`select current_setting('search_path') as p`;
    await runDoctor(t.admin);
    const [after] = await t.admin`select current_setting('search_path') as p`;
    expect(after).toEqual(before);
  });
});

describe('tables', () => {
  it('reports RLS off (error), then not forced (warning), then no policy (warning), each fixed by its SQL', async () => {
    await t.admin`create table public.doc_norls (id int primary key, secret text)`;
    await t.admin`grant select on public.doc_norls to anon`;
    try {
      const off = await reportedThenFixed(
        'rls-disabled',
        'public.doc_norls',
        'error',
        'ALTER TABLE public.doc_norls ENABLE ROW LEVEL SECURITY;',
      );
      expect(off.why).toContain('anon (SELECT)');
      // Enabled but neither forced nor with a policy: the two follow-ups show up now.
      await reportedThenFixed(
        'rls-not-forced',
        'public.doc_norls',
        'warning',
        'ALTER TABLE public.doc_norls FORCE ROW LEVEL SECURITY;',
      );
      await reportedThenFixed('rls-no-policy', 'public.doc_norls', 'warning', /^CREATE POLICY doc_norls_no_access ON/);
      expect(await runDoctor(t.admin)).toEqual([]);
    } finally {
      await t.admin`drop table if exists public.doc_norls`;
    }
  });

  it('quotes names that need it, in objects and fixes', async () => {
    await t.admin`create table public."Doc Mixed" (id int primary key)`;
    try {
      await reportedThenFixed('rls-disabled', 'public."Doc Mixed"', 'error', 'ALTER TABLE public."Doc Mixed" ENABLE');
      await reportedThenFixed('rls-no-policy', 'public."Doc Mixed"', 'warning', 'CREATE POLICY "Doc Mixed_no_access"');
    } finally {
      await t.admin`drop table if exists public."Doc Mixed"`;
    }
  });

  it('checks the schemas it is given, and only those', async () => {
    await t.admin`create schema doc_api`;
    await t.admin`create table doc_api.items (id int primary key)`;
    try {
      expect(await runDoctor(t.admin)).toEqual([]);
      const f = await runDoctor(t.admin, { schemas: ['public', 'doc_api'] });
      expect(find(f, 'rls-disabled', 'doc_api.items')).toHaveLength(1);
    } finally {
      await t.admin`drop schema doc_api cascade`;
    }
  });

  it('reports a view readable by a request role that runs as its owner', async () => {
    await t.admin`create view public.doc_profiles_v as select id, username from public.profiles`;
    await t.admin`grant select on public.doc_profiles_v to anon`;
    try {
      const f = await reportedThenFixed(
        'view-not-security-invoker',
        'public.doc_profiles_v',
        'error',
        'ALTER VIEW public.doc_profiles_v SET (security_invoker = true);',
      );
      expect(f.why).toContain('bypasses RLS');
    } finally {
      await t.admin`drop view if exists public.doc_profiles_v`;
    }
  });
});

describe('policies', () => {
  it('reports bare auth.uid()/auth.jwt()/current_setting calls and rewrites them wrapped in (select ...)', async () => {
    await t.admin`create table public.doc_bare (id uuid primary key, org text, note text)`;
    await t.admin`alter table public.doc_bare enable row level security`;
    await t.admin`alter table public.doc_bare force row level security`;
    await t.admin`create policy doc_bare_read on public.doc_bare for select to authenticated
                    using (id = auth.uid() or note = 'auth.uid()')`;
    await t.admin`create policy doc_bare_write on public.doc_bare for update to authenticated
                    using (auth.jwt() ->> 'role' = 'authenticated')
                    with check (current_setting('request.jwt.claims', true)::jsonb ->> 'sub' = id::text)`;
    try {
      const read = await reportedThenFixed(
        'policy-per-row-auth-call',
        'doc_bare_read on public.doc_bare',
        'warning',
        'ALTER POLICY doc_bare_read ON public.doc_bare USING (',
      );
      expect(read.fix).toContain('(select auth.uid())');
      // The literal that looks like a call is left alone.
      expect(read.fix).toContain("'auth.uid()'");
      expect(read.fix).not.toContain('WITH CHECK');
      const write = await reportedThenFixed(
        'policy-per-row-auth-call',
        'doc_bare_write on public.doc_bare',
        'warning',
        '(select auth.jwt())',
      );
      expect(write.fix).toContain(' WITH CHECK (');
      expect(write.fix).toContain("(select current_setting('request.jwt.claims'::text, true))");
      expect(write.why).toContain('auth.jwt()');
      // Same meaning after the rewrite: the policies still compare against the caller.
      const [p] = await t.admin`select qual from pg_policies where policyname = 'doc_bare_read'`;
      expect(p!.qual).toMatch(/id = \( SELECT auth\.uid\(\) AS uid\)/);
      expect(await runDoctor(t.admin)).toEqual([]);
    } finally {
      await t.admin`drop table if exists public.doc_bare`;
    }
  });

  it('reports a column compared with (select auth.uid()) that no index starts with', async () => {
    await unindexedThenFixed(
      'doc_owned',
      `create table public.doc_owned (id bigint generated always as identity primary key,
                                      owner_id uuid not null, created_at timestamptz);
       create policy doc_owned_own on public.doc_owned for all to authenticated
         using (owner_id = (select auth.uid())) with check ((select auth.uid()) = owner_id);
       -- An index that contains the column but does not start with it does not count.
       create index on public.doc_owned (created_at, owner_id);`,
      [{ column: 'owner_id', policy: 'doc_owned_own', says: 'auth.uid()' }],
    );
  });
});

describe('organisation helpers', () => {
  it('reports a column passed to auth.is_member / auth.has_org_role that no index starts with', async () => {
    await unindexedThenFixed(
      'doc_projects',
      `create table public.doc_projects (id bigint generated always as identity primary key,
                                         org_id uuid not null, "Team" uuid, name text);
       create policy doc_projects_read on public.doc_projects for select to authenticated
         using ((select auth.is_member(org_id)));
       create policy doc_projects_write on public.doc_projects for update to authenticated
         using ((select auth.has_org_role("Team", '{owner,admin}')))
         with check ((select auth.has_org_role("Team", '{owner,admin}')));`,
      [
        { column: 'org_id', policy: 'doc_projects_read', says: 'auth.is_member' },
        { column: '"Team"', policy: 'doc_projects_write', says: 'auth.has_org_role' },
      ],
    );
  });

  it('reads the column out of the deparsed calls, bare or wrapped, and not out of literals', () => {
    expect(orgHelperColumns('( SELECT auth.is_member(projects.org_id) AS is_member)')).toEqual(['org_id']);
    expect(orgHelperColumns('auth.is_member(team)')).toEqual(['team']);
    expect(orgHelperColumns('auth.has_org_role("Org", \'{owner}\'::text[])')).toEqual(['Org']);
    expect(orgHelperColumns("(name = 'auth.is_member(x)')")).toEqual([]);
  });
});

describe('schema auth', () => {
  it('reports a grant to anon on auth.users and revokes it', async () => {
    await t.admin`grant select on auth.users to anon`;
    try {
      const f = await reportedThenFixed(
        'auth-schema-privilege',
        'auth.users',
        'error',
        'REVOKE ALL ON auth.users FROM anon;',
      );
      expect(f.why).toMatch(/^anon holds SELECT/);
      expect(await runDoctor(t.admin)).toEqual([]);
    } finally {
      await t.admin`revoke all on auth.users from anon`;
    }
  });

  it('finds column grants, grants to PUBLIC and sequence grants, and names the right grantee', async () => {
    await t.admin`grant select (email) on auth.users to authenticated`;
    await t.admin`grant select on auth.sessions to public`;
    await t.admin`grant usage on sequence auth.refresh_tokens_id_seq to anon`;
    try {
      await reportedThenFixed(
        'auth-schema-privilege',
        'auth.users',
        'error',
        'REVOKE ALL ON auth.users FROM authenticated;',
      );
      // A PUBLIC grant reaches both request roles; either finding's fix removes it for both.
      const sessions = find(await runDoctor(t.admin), 'auth-schema-privilege', 'auth.sessions');
      expect(sessions.map((f) => f.fix)).toEqual([
        'REVOKE ALL ON auth.sessions FROM PUBLIC;',
        'REVOKE ALL ON auth.sessions FROM PUBLIC;',
      ]);
      await t.admin.unsafe(sessions[0]!.fix);
      await reportedThenFixed(
        'auth-schema-privilege',
        'auth.refresh_tokens_id_seq',
        'error',
        'REVOKE ALL ON SEQUENCE auth.refresh_tokens_id_seq FROM anon;',
      );
      expect(await runDoctor(t.admin)).toEqual([]);
    } finally {
      await t.admin`revoke all on auth.users from authenticated`;
      await t.admin`revoke all on auth.sessions from public`;
      await t.admin`revoke all on sequence auth.refresh_tokens_id_seq from anon`;
    }
  });

  it('allows EXECUTE on auth functions (the policies need them)', async () => {
    const [r] = await t.admin`select has_function_privilege('anon', 'auth.uid()', 'EXECUTE') as x`;
    expect(r!.x).toBe(true);
    expect(await runDoctor(t.admin)).toEqual([]);
  });
});

describe('roles', () => {
  it('reports a login role with BYPASSRLS that is a member of authenticated', async () => {
    const role = `doc_bad_${randomBytes(4).toString('hex')}`;
    await t.admin.unsafe(`create role ${role} login bypassrls`);
    try {
      // Not a member of a request role yet: none of the doctor's business.
      expect(find(await runDoctor(t.admin), 'role-bypasses-rls', role)).toEqual([]);
      await t.admin.unsafe(`grant authenticated to ${role}`);
      const f = await reportedThenFixed('role-bypasses-rls', role, 'error', `ALTER ROLE ${role} NOBYPASSRLS;`);
      expect(f.why).toContain(`REVOKE authenticated FROM ${role}`);
    } finally {
      await t.admin.unsafe(`drop role if exists ${role}`);
    }
  });

  it('finds membership through another role, and a superuser', async () => {
    const group = `doc_grp_${randomBytes(4).toString('hex')}`;
    const role = `doc_su_${randomBytes(4).toString('hex')}`;
    await t.admin.unsafe(`create role ${group} nologin`);
    await t.admin.unsafe(`create role ${role} login superuser`);
    try {
      await t.admin.unsafe(`grant anon to ${group}`);
      await t.admin.unsafe(`grant ${group} to ${role}`);
      const f = await reportedThenFixed('role-bypasses-rls', role, 'error', `ALTER ROLE ${role} NOSUPERUSER;`);
      expect(f.why).toContain('member of anon');
    } finally {
      await t.admin.unsafe(`drop role if exists ${role}`);
      await t.admin.unsafe(`drop role if exists ${group}`);
    }
  });

  it("reports the gateway's own login role with BYPASSRLS", async () => {
    const login = new URL(t.gateway.loginUrl).username;
    expect(login).toMatch(/^authgate_login_/);
    await t.admin.unsafe(`alter role ${login} bypassrls`);
    try {
      const f = await reportedThenFixed('role-bypasses-rls', login, 'error', `ALTER ROLE ${login} NOBYPASSRLS;`);
      expect(f.why).toContain('role of the gateway');
    } finally {
      await t.admin.unsafe(`alter role ${login} nobypassrls`);
    }
  });
});

describe('the CLI', () => {
  const cli = async (args: string[], env: Record<string, string | undefined>) => {
    try {
      const { stdout, stderr } = await run('node', ['bin/authgate.mjs', 'doctor', ...args], {
        env,
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout: string; stderr: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const { DATABASE_URL: _ignored, ...baseEnv } = process.env;

  it('exits 1 on an error-level finding and 0 once it is fixed (warnings do not fail it)', async () => {
    const env = { ...baseEnv, DATABASE_URL: t.dbUrl };
    const clean = await cli([], env);
    expect(clean).toMatchObject({ code: 0 });
    expect(clean.stdout.trim()).toBe('no findings');

    await t.admin`create table public.doc_cli (id int primary key)`;
    try {
      const bad = await cli([], env);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('ERROR   rls-disabled  public.doc_cli');
      expect(bad.stdout).toContain('fix: ALTER TABLE public.doc_cli ENABLE ROW LEVEL SECURITY;');
      expect(bad.stdout).toMatch(/1 error, 0 warnings\s*$/);

      await t.admin`alter table public.doc_cli enable row level security`;
      const warned = await cli([], env);
      expect(warned.code).toBe(0);
      expect(warned.stdout).toContain('WARNING rls-not-forced  public.doc_cli');
      expect(warned.stdout).toMatch(/0 errors, 2 warnings\s*$/);

      // --schema: a schema with an RLS-less table fails only when it is asked for.
      await t.admin`create schema doc_cli_s`;
      await t.admin`create table doc_cli_s.t (id int)`;
      expect((await cli(['--schema', 'doc_cli_s'], env)).code).toBe(1);
      expect((await cli(['--schema=public'], env)).code).toBe(0);
    } finally {
      await t.admin`drop table if exists public.doc_cli`;
      await t.admin`drop schema if exists doc_cli_s cascade`;
    }
  });

  it('says in one line that DATABASE_URL is missing, prints --help, rejects unknown options', async () => {
    const missing = await cli([], baseEnv);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/DATABASE_URL/);

    const help = await cli(['--help'], baseEnv);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--schema/);

    const unknown = await cli(['--nope'], { ...baseEnv, DATABASE_URL: t.dbUrl });
    expect(unknown.code).toBe(2);
  });

  // `npx authgate doctor` is the one entry point: 1 is only ever a finding, so a script can
  // tell "fix your policies" from "could not check".
  it('exits 2 with one line, never 1, when the database does not answer or a schema is missing', async () => {
    const down = await cli([], {
      ...baseEnv,
      DATABASE_URL: `postgres://postgres:x@127.0.0.1:${await freePort()}/postgres`,
    });
    expect(down.code).toBe(2);
    expect(down.stdout).toBe('');
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toMatch(/^authgate doctor: .*ECONNREFUSED/);

    const missing = await cli(['--schema', 'pubic'], { ...baseEnv, DATABASE_URL: t.dbUrl });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('authgate doctor: schema pubic does not exist');
  });
});

describe('expression parsing', () => {
  it('tells wrapped calls from per-row ones', () => {
    expect(bareAuthCalls('(id = ( SELECT auth.uid() AS uid))')).toEqual([]);
    expect(bareAuthCalls("(( SELECT (auth.jwt() ->> 'role'::text)) = 'admin'::text)")).toEqual([]);
    expect(bareAuthCalls("(note = 'auth.uid()'::text)")).toEqual([]);
    expect(bareAuthCalls('(id = auth.uid())').map((c) => c.text)).toEqual(['auth.uid()']);
    expect(bareAuthCalls("(auth.role() = 'authenticated'::text)").map((c) => c.text)).toEqual(['auth.role()']);
    // In the WHERE of a subquery the call may be re-evaluated per outer row.
    expect(
      bareAuthCalls('(EXISTS ( SELECT 1 FROM public.m m WHERE ((m.org = t.org) AND (m.user_id = auth.uid()))))').map(
        (c) => c.text,
      ),
    ).toEqual(['auth.uid()']);
  });

  it('finds the columns compared with auth.uid()', () => {
    expect(uidComparedColumns('(is_public OR (id = ( SELECT auth.uid() AS uid)))')).toEqual(['id']);
    expect(uidComparedColumns('(auth.uid() = "Owner")')).toEqual(['Owner']);
    expect(uidComparedColumns('(m.user_id = auth.uid())')).toEqual([]);
    expect(uidComparedColumns("((auth.jwt() ->> 'sub'::text) = (id)::text)")).toEqual([]);
  });
});
