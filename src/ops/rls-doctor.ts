import type postgres from 'postgres';

/**
 * `authgate doctor`: a linter for the row level security of the operator's own database,
 * run with an admin URL. It only reads the catalogs (in a READ ONLY transaction) and reports
 * what it finds, each with the reason it matters and the SQL that fixes it.
 */

export type Finding = { level: 'error' | 'warning'; check: string; object: string; why: string; fix: string };

export type DoctorOptions = { schemas?: string[] };

/** The schemas the gateway (or a PostgREST-style API) exposes when none are given. */
export const DEFAULT_SCHEMAS = ['public'];

/** The request roles of the gateway; policies and grants are written for them. */
const REQUEST_ROLES = ['anon', 'authenticated'];

/** The checks, in the order findings are listed (after errors before warnings). */
export const CHECKS = [
  'rls-disabled',
  'rls-not-forced',
  'rls-no-policy',
  'view-not-security-invoker',
  'policy-per-row-auth-call',
  'policy-column-unindexed',
  'auth-schema-privilege',
  'role-bypasses-rls',
] as const;

type Tx = postgres.TransactionSql;

export async function runDoctor(sql: postgres.Sql, opts: DoctorOptions = {}): Promise<Finding[]> {
  const schemas = opts.schemas && opts.schemas.length > 0 ? [...new Set(opts.schemas)] : DEFAULT_SCHEMAS;
  const findings = await sql.begin('read only', async (tx) => {
    // Empty search_path: the catalog's deparsed expressions and regclass names come out
    // schema-qualified, so every suggested statement runs as is under any search_path.
    await tx`set local search_path = ''`;
    const found = await tx<{ nspname: string }[]>`
      select nspname from pg_catalog.pg_namespace where nspname = any(${tx.array(schemas)}::text[])`;
    const missing = schemas.filter((s) => !found.some((r) => r.nspname === s));
    if (missing.length > 0) throw new Error(`schema ${missing.join(', ')} does not exist`);
    const [v] = await tx<{ v: number }[]>`select current_setting('server_version_num')::int as v`;
    const version = v!.v;
    return [
      ...(await tableChecks(tx, schemas)),
      ...(await viewChecks(tx, schemas, version)),
      ...(await policyChecks(tx, schemas)),
      ...(await authSchemaChecks(tx, version)),
      ...(await roleChecks(tx)),
    ];
  });
  return sortFindings(findings as Finding[]);
}

function sortFindings(f: Finding[]): Finding[] {
  const rank = (c: string) => {
    const i = (CHECKS as readonly string[]).indexOf(c);
    return i < 0 ? CHECKS.length : i;
  };
  return [...f].sort(
    (a, b) =>
      (a.level === b.level ? 0 : a.level === 'error' ? -1 : 1) ||
      rank(a.check) - rank(b.check) ||
      a.object.localeCompare(b.object) ||
      a.fix.localeCompare(b.fix),
  );
}

/** "anon (SELECT, INSERT), authenticated (SELECT)" from rows of role + privilege. */
function describeAccess(access: string[]): string {
  const byRole = new Map<string, string[]>();
  for (const a of access) {
    const [role, priv] = a.split(':') as [string, string];
    byRole.set(role, [...(byRole.get(role) ?? []), priv]);
  }
  return [...byRole].map(([r, p]) => `${r} (${p.join(', ')})`).join(', ');
}

/** Leaves out relations an extension owns (PostGIS's spatial_ref_sys, say): not the operator's to change. */
const notExtension = (tx: Tx) =>
  tx`not exists (select 1 from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`;

// ---------------------------------------------------------------------------------------
// 1. Every table in the exposed schemas: RLS enabled, forced, and with at least one policy.

async function tableChecks(tx: Tx, schemas: string[]): Promise<Finding[]> {
  const rows = await tx<
    { name: string; noAccess: string; rls: boolean; forced: boolean; policies: number; access: string[] }[]
  >`
    select c.oid::regclass::text as name, quote_ident(left(c.relname || '_no_access', 63)) as "noAccess",
           c.relrowsecurity as rls, c.relforcerowsecurity as forced,
           (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies,
           array(select r.rolname || ':' || p
                   from pg_roles r cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p
                  where r.rolname = any(${tx.array(REQUEST_ROLES)}::text[])
                    and case when p = 'DELETE' then has_table_privilege(r.oid, c.oid, p)
                             else has_any_column_privilege(r.oid, c.oid, p) end
                  order by r.rolname, p) as access
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any(${tx.array(schemas)}::text[]) and c.relkind in ('r', 'p') and ${notExtension(tx)}
     order by 1`;
  const out: Finding[] = [];
  for (const t of rows) {
    const reach =
      t.access.length > 0
        ? `Request roles can reach it today: ${describeAccess(t.access)}.`
        : 'No request role holds a grant on it today, so it is one GRANT away from exposing every row.';
    if (!t.rls) {
      out.push({
        level: 'error',
        check: 'rls-disabled',
        object: t.name,
        why: `Row level security is off, so every role with a grant on the table reads and writes all of its rows; policies, if any, are ignored. ${reach}`,
        fix: `ALTER TABLE ${t.name} ENABLE ROW LEVEL SECURITY;`,
      });
      continue;
    }
    if (!t.forced) {
      out.push({
        level: 'warning',
        check: 'rls-not-forced',
        object: t.name,
        why: "RLS is enabled but not forced, so the table's owner (and SECURITY DEFINER functions and views it owns) bypass the policies.",
        fix: `ALTER TABLE ${t.name} FORCE ROW LEVEL SECURITY;`,
      });
    }
    if (t.policies === 0) {
      // A warning, not an error: with no policy RLS fails closed (no rows, no writes for any
      // role subject to RLS), which leaks nothing. It is either a bug (the API sees an empty
      // table) or deliberate (a table only service_role or SECURITY DEFINER code touches);
      // the fix makes the deliberate case explicit.
      out.push({
        level: 'warning',
        check: 'rls-no-policy',
        object: t.name,
        why: `RLS is on but the table has no policy, so every role subject to RLS sees no rows and cannot write. ${reach} Write the policies the API needs; if no request role should ever reach it, say so with an explicit policy.`,
        fix: `CREATE POLICY ${t.noAccess} ON ${t.name} FOR ALL USING (false);`,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Views run with their owner's privileges (and so past RLS) unless security_invoker is set.

async function viewChecks(tx: Tx, schemas: string[], version: number): Promise<Finding[]> {
  const rows = await tx<{ name: string; access: string[]; owner: string; ownerBypasses: boolean }[]>`
    select c.oid::regclass::text as name, c.relowner::regrole::text as owner,
           (o.rolsuper or o.rolbypassrls) as "ownerBypasses",
           array(select r.rolname || ':SELECT' from pg_roles r
                  where r.rolname = any(${tx.array(REQUEST_ROLES)}::text[])
                    and has_any_column_privilege(r.oid, c.oid, 'SELECT')
                  order by r.rolname) as access
      from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_roles o on o.oid = c.relowner
     where n.nspname = any(${tx.array(schemas)}::text[]) and c.relkind = 'v' and ${notExtension(tx)}
       and not exists (select 1 from unnest(c.reloptions) opt where opt ~* '^security_invoker=(true|on|yes|1)$')
     order by 1`;
  return rows
    .filter((v) => v.access.length > 0)
    .map((v) => ({
      level: 'error' as const,
      check: 'view-not-security-invoker',
      object: v.name,
      why: `The view runs its query as its owner ${v.owner}${v.ownerBypasses ? ', who bypasses RLS' : ''}, not as the caller, so the policies of the tables under it do not see the request's role. Readable by ${describeAccess(v.access)}.`,
      fix:
        version >= 150000
          ? `ALTER VIEW ${v.name} SET (security_invoker = true);`
          : `REVOKE ALL ON ${v.name} FROM ${v.access.map((a) => a.split(':')[0]).join(', ')};`,
    }));
}

// ---------------------------------------------------------------------------------------
// 2. and 3. Policies: per-row auth calls, and unindexed columns compared with auth.uid().

type PolicyRow = {
  relid: string;
  tbl: string;
  polname: string;
  ident: string;
  qual: string | null;
  withCheck: string | null;
};

async function policyChecks(tx: Tx, schemas: string[]): Promise<Finding[]> {
  const policies = await tx<PolicyRow[]>`
    select c.oid::int8 as relid, c.oid::regclass::text as tbl, p.polname, quote_ident(p.polname) as ident,
           pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as "withCheck"
      from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any(${tx.array(schemas)}::text[])
     order by 2, 3`;
  const out: Finding[] = [];
  // table oid + column -> policies comparing it with auth.uid() (uid) or passing it to an
  // organisation helper, auth.is_member / auth.has_org_role (org)
  const compared = new Map<
    string,
    { relid: string; tbl: string; column: string; policies: Set<string>; uses: Set<'uid' | 'org'> }
  >();
  for (const p of policies) {
    const object = `${p.ident} on ${p.tbl}`;
    const bareQual = p.qual ? bareAuthCalls(p.qual) : [];
    const bareCheck = p.withCheck ? bareAuthCalls(p.withCheck) : [];
    if (bareQual.length + bareCheck.length > 0) {
      const calls = [...new Set([...bareQual, ...bareCheck].map((c) => c.text.replace(/\s+/g, ' ')))];
      const clauses = [
        bareQual.length > 0 ? `USING (${wrapCalls(p.qual!, bareQual)})` : '',
        bareCheck.length > 0 ? `WITH CHECK (${wrapCalls(p.withCheck!, bareCheck)})` : '',
      ].filter(Boolean);
      out.push({
        level: 'warning',
        check: 'policy-per-row-auth-call',
        object,
        why: `The policy calls ${calls.join(', ')} directly, which Postgres evaluates once per row scanned; wrapped as (select ...) it becomes an init plan evaluated once per statement.`,
        fix: `ALTER POLICY ${p.ident} ON ${p.tbl} ${clauses.join(' ')};`,
      });
    }
    for (const expr of [p.qual, p.withCheck]) {
      if (!expr) continue;
      const uses = [
        ...uidComparedColumns(expr).map((column) => ({ column, use: 'uid' as const })),
        ...orgHelperColumns(expr).map((column) => ({ column, use: 'org' as const })),
      ];
      for (const { column, use } of uses) {
        const key = `${p.relid}\u0000${column}`;
        const entry = compared.get(key) ?? {
          relid: p.relid,
          tbl: p.tbl,
          column,
          policies: new Set<string>(),
          uses: new Set<'uid' | 'org'>(),
        };
        entry.policies.add(p.ident);
        entry.uses.add(use);
        compared.set(key, entry);
      }
    }
  }
  for (const c of compared.values()) {
    const [col] = await tx<{ ident: string; indexed: boolean }[]>`
      select quote_ident(a.attname) as ident,
             exists (select 1 from pg_index i
                      where i.indrelid = a.attrelid and i.indkey[0] = a.attnum
                        and i.indisvalid and i.indpred is null) as indexed
        from pg_attribute a
       where a.attrelid = ${c.relid}::oid and a.attname = ${c.column} and a.attnum > 0 and not a.attisdropped`;
    // Not a column of the policy's own table (a column of a subquery's table, say): skip.
    if (!col || col.indexed) continue;
    out.push({
      level: 'warning',
      check: 'policy-column-unindexed',
      object: `${c.tbl}.${col.ident}`,
      why: `${c.policies.size === 1 ? 'Policy' : 'Policies'} ${[...c.policies].join(', ')} ${[
        c.uses.has('uid') ? `compare${c.policies.size === 1 ? 's' : ''} ${col.ident} with auth.uid()` : '',
        c.uses.has('org')
          ? `pass${c.policies.size === 1 ? 'es' : ''} ${col.ident} to auth.is_member / auth.has_org_role (a membership check per row)`
          : '',
      ]
        .filter(Boolean)
        .join(
          ' and ',
        )}, and no index starts with that column, so every query through the policy scans the whole table.`,
      fix: `CREATE INDEX ON ${c.tbl} (${col.ident});`,
    });
  }
  return out;
}

/** The text with string literals and quoted identifiers blanked out, same length. */
function maskQuoted(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < s.length) {
        if (s[j] === ch) {
          if (s[j + 1] === ch) j += 2;
          else break;
        } else j++;
      }
      out += ch + '\u0000'.repeat(Math.max(0, Math.min(j, s.length) - i - 1)) + (j < s.length ? ch : '');
      i = j + 1;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** The position just after the parenthesis that closes the one at `open` (masked text). */
function closingParen(masked: string, open: number): number {
  let depth = 0;
  for (let i = open; i < masked.length; i++) {
    if (masked[i] === '(') depth++;
    else if (masked[i] === ')' && --depth === 0) return i + 1;
  }
  return masked.length;
}

type Call = { start: number; end: number; text: string };

const AUTH_CALL =
  /\bauth\s*\.\s*(?:uid|jwt|role|email)\s*\(\s*\)|\b(?:pg_catalog\s*\.\s*)?current_setting\s*\(\s*'request\.jwt\.claim/gi;

/**
 * The calls of auth.uid()/jwt()/role() (and of current_setting('request.jwt.claim...')) in a
 * deparsed policy expression that are not the target list of a scalar subquery. Inside
 * `( SELECT auth.uid() AS uid)` the call is an init plan, evaluated once; anywhere else
 * (including the WHERE of a subquery, which may be correlated) it may run once per row.
 */
export function bareAuthCalls(expr: string): Call[] {
  const masked = maskQuoted(expr);
  const calls: Call[] = [];
  for (const m of expr.matchAll(AUTH_CALL)) {
    const start = m.index;
    if (masked[start] !== expr[start]) continue; // inside a literal or quoted identifier
    let end = start + m[0].length;
    if (/current_setting/i.test(m[0])) end = closingParen(masked, masked.indexOf('(', start));
    if (!inSelectList(masked, start)) calls.push({ start, end, text: expr.slice(start, end) });
  }
  return calls;
}

/** Whether the position sits in the target list of the innermost enclosing `( SELECT`. */
function inSelectList(masked: string, pos: number): boolean {
  const open: number[] = [];
  for (let i = 0; i < pos; i++) {
    if (masked[i] === '(') open.push(i);
    else if (masked[i] === ')') open.pop();
  }
  for (let k = open.length - 1; k >= 0; k--) {
    const from = open[k]! + 1;
    const head = /^\s*select\b/i.exec(masked.slice(from));
    if (!head) continue;
    // The text of this subquery between SELECT and the call, nested parentheses left out.
    let depth = 0;
    let top = '';
    for (let i = from + head[0].length; i < pos; i++) {
      const ch = masked[i]!;
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      else if (depth === 0) top += ch;
    }
    return !/\bfrom\b/i.test(top);
  }
  return false;
}

/** The expression with each of `calls` wrapped as `(select <call>)`. */
function wrapCalls(expr: string, calls: Call[]): string {
  let out = expr;
  for (const c of [...calls].sort((a, b) => b.start - a.start)) {
    out = `${out.slice(0, c.start)}(select ${out.slice(c.start, c.end)})${out.slice(c.end)}`;
  }
  return out;
}

const IDENT = `("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const UID = String.raw`(?:\(\s*SELECT\s+auth\.uid\(\)(?:\s+AS\s+[A-Za-z_][A-Za-z0-9_$]*)?\s*\)|auth\.uid\(\))`;
const COL_EQ_UID = new RegExp(String.raw`(?<![\w$."])${IDENT}\s*=\s*${UID}`, 'gi');
const UID_EQ_COL = new RegExp(String.raw`${UID}\s*=\s*${IDENT}(?![\w$."(])`, 'gi');

/**
 * The unqualified columns a deparsed policy expression compares with auth.uid(), bare or
 * wrapped: `(owner_id = ( SELECT auth.uid() AS uid))`, `(auth.uid() = "Owner")`. Anything more
 * involved (casts, ANY, joins through other tables) is not recognised.
 */
export function uidComparedColumns(expr: string): string[] {
  const masked = maskQuoted(expr);
  const cols = new Set<string>();
  for (const re of [COL_EQ_UID, UID_EQ_COL]) {
    for (const m of expr.matchAll(re)) {
      if (masked[m.index] !== expr[m.index]) continue;
      const ident = m[1]!;
      if (/^(and|or|not|select|when|then|else)$/i.test(ident)) continue;
      cols.add(ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase());
    }
  }
  return [...cols];
}

// Inside a scalar subquery the deparser qualifies the column with its table: `( SELECT
// auth.is_member(projects.org_id) AS is_member)`.
const ORG_HELPER = new RegExp(
  String.raw`\bauth\.(?:is_member|has_org_role)\(\s*(?:${IDENT}\s*\.\s*)?${IDENT}\s*[,)]`,
  'gi',
);

/**
 * The unqualified columns a deparsed policy expression passes as the organisation to
 * auth.is_member or auth.has_org_role, bare or wrapped, qualified or not. The policy then filters the table by that column: it wants an index.
 */
export function orgHelperColumns(expr: string): string[] {
  const masked = maskQuoted(expr);
  const cols = new Set<string>();
  for (const m of expr.matchAll(ORG_HELPER)) {
    if (masked[m.index] !== expr[m.index]) continue;
    const ident = m[2]!;
    cols.add(ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase());
  }
  return [...cols];
}

// ---------------------------------------------------------------------------------------
// 4. anon and authenticated hold nothing in schema auth but EXECUTE on functions.

const RELKIND_WORD: Record<string, string> = {
  r: 'TABLE',
  p: 'TABLE',
  v: 'VIEW',
  m: 'MATERIALIZED VIEW',
  f: 'FOREIGN TABLE',
  S: 'SEQUENCE',
};

async function authSchemaChecks(tx: Tx, version: number): Promise<Finding[]> {
  const [schema] = await tx<{ oid: string }[]>`select oid::int8 as oid from pg_namespace where nspname = 'auth'`;
  if (!schema) return [];
  const tablePrivileges = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];
  if (version >= 170000) tablePrivileges.push('MAINTAIN');
  // has_*_privilege decides; the ACLs name where a privilege comes from (a direct grant,
  // PUBLIC, a role whose privileges it inherits, ownership) so the REVOKE is the right one.
  const rows = await tx<
    { role: string; ident: string; name: string; relkind: string; privileges: string[]; via: string[]; owns: boolean }[]
  >`
    with r as (select oid, rolname from pg_roles where rolname = any(${tx.array(REQUEST_ROLES)}::text[])),
         o as (select c.oid, c.oid::regclass::text as name, c.relkind::text as relkind, c.relowner, c.relacl
                 from pg_class c
                where c.relnamespace = ${schema.oid}::oid and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S'))
    select r.rolname as role, quote_ident(r.rolname) as ident, o.name, o.relkind,
           array(select p from unnest(case when o.relkind = 'S' then array['USAGE', 'SELECT', 'UPDATE']
                                           else ${tx.array(tablePrivileges)}::text[] end) p
                  where case when o.relkind = 'S' then has_sequence_privilege(r.oid, o.oid, p)
                             when p in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                               then has_any_column_privilege(r.oid, o.oid, p)
                             else has_table_privilege(r.oid, o.oid, p) end) as privileges,
           array(select distinct case when g.grantee = 0 then 'PUBLIC' else g.grantee::regrole::text end
                   from (select (aclexplode(coalesce(o.relacl,
                                   acldefault(case when o.relkind = 'S' then 's' else 'r' end::"char", o.relowner)))).grantee
                         union all
                         select (aclexplode(a.attacl)).grantee
                           from pg_attribute a where a.attrelid = o.oid and a.attacl is not null) g
                  where g.grantee <> o.relowner
                    and case when g.grantee = 0 then true else pg_has_role(r.oid, g.grantee, 'USAGE') end) as via,
           pg_has_role(r.oid, o.relowner, 'USAGE') as owns
      from r cross join o
     order by o.name, r.rolname`;
  const out: Finding[] = [];
  for (const row of rows) {
    if (row.privileges.length === 0) continue;
    const word = RELKIND_WORD[row.relkind] ?? 'TABLE';
    const on = word === 'SEQUENCE' ? `SEQUENCE ${row.name}` : row.name;
    const from = row.via.length > 0 ? row.via : row.owns ? [] : [row.ident];
    const fixes = [
      ...(row.owns ? [`ALTER ${word} ${row.name} OWNER TO CURRENT_USER;`] : []),
      ...(from.length > 0 ? [`REVOKE ALL ON ${on} FROM ${from.join(', ')};`] : []),
    ];
    const sources = [
      ...(row.owns ? ['it owns the object'] : []),
      ...row.via.map((g) => (g === 'PUBLIC' ? 'a grant to PUBLIC' : g === row.ident ? 'a direct grant' : `role ${g}`)),
    ];
    out.push({
      level: 'error',
      check: 'auth-schema-privilege',
      object: row.name,
      why: `${row.role} holds ${row.privileges.join(', ')} on ${word.toLowerCase()} ${row.name} (through ${sources.join(', ') || 'a grant'}). Schema auth holds password hashes, sessions and refresh tokens; request roles may only EXECUTE its functions.`,
      fix: fixes.join(' '),
    });
  }
  const schemaRows = await tx<{ role: string; ident: string; via: string[] }[]>`
    select r.rolname as role, quote_ident(r.rolname) as ident,
           array(select distinct case when g.grantee = 0 then 'PUBLIC' else g.grantee::regrole::text end
                   from aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) g
                  where g.privilege_type = 'CREATE' and g.grantee <> n.nspowner
                    and case when g.grantee = 0 then true else pg_has_role(r.oid, g.grantee, 'USAGE') end) as via
      from pg_roles r cross join pg_namespace n
     where n.oid = ${schema.oid}::oid and r.rolname = any(${tx.array(REQUEST_ROLES)}::text[])
       and has_schema_privilege(r.oid, n.oid, 'CREATE')`;
  for (const row of schemaRows) {
    out.push({
      level: 'error',
      check: 'auth-schema-privilege',
      object: 'auth',
      why: `${row.role} can CREATE in schema auth, so it can add objects next to (and shadowing) the auth functions the policies call.`,
      fix: `REVOKE CREATE ON SCHEMA auth FROM ${(row.via.length > 0 ? row.via : [row.ident]).join(', ')};`,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// 5. The gateway's roles, and login roles that can act as a request role, never bypass RLS.

async function roleChecks(tx: Tx): Promise<Finding[]> {
  // Membership from pg_auth_members, not pg_has_role: superusers count as members of every
  // role there, and the admin running this is often one.
  const rows = await tx<
    {
      name: string;
      ident: string;
      super: boolean;
      bypass: boolean;
      login: boolean;
      gateway: boolean;
      groups: string[];
    }[]
  >`
    with recursive reach(member, grp) as (
      select m.member, g.rolname::text
        from pg_auth_members m join pg_roles g on g.oid = m.roleid
       where g.rolname = any(${tx.array(REQUEST_ROLES)}::text[])
      union
      select m.member, reach.grp from pg_auth_members m join reach on m.roleid = reach.member
    )
    select r.rolname as name, quote_ident(r.rolname) as ident, r.rolsuper as super, r.rolbypassrls as bypass,
           r.rolcanlogin as login,
           (r.rolname like 'authgate\_login\_%' or r.rolname = 'authgate_authenticator'
              or r.rolname = any(${tx.array(REQUEST_ROLES)}::text[])) as gateway,
           array(select distinct grp from reach where reach.member = r.oid order by 1) as groups
      from pg_roles r
     where (r.rolsuper or r.rolbypassrls)
     order by r.rolname`;
  const out: Finding[] = [];
  for (const r of rows) {
    if (!r.gateway && !(r.login && r.groups.length > 0)) continue;
    const attrs = [r.super ? 'SUPERUSER' : '', r.bypass ? 'BYPASSRLS' : ''].filter(Boolean);
    const what = r.gateway
      ? `${r.name} is a role of the gateway`
      : `${r.name} can log in and is a member of ${r.groups.join(' and ')} (directly or through another role)`;
    out.push({
      level: 'error',
      check: 'role-bypasses-rls',
      object: r.name,
      why: `${what} and has ${attrs.join(' and ')}, so every statement it runs skips row level security${r.super ? ' and every privilege check' : ''}.${
        !r.gateway
          ? ` If it needs ${attrs.join('/')}, take it out of the group instead: REVOKE ${r.groups.join(', ')} FROM ${r.ident};`
          : ''
      }`,
      fix: `ALTER ROLE ${r.ident} ${[r.super ? 'NOSUPERUSER' : '', r.bypass ? 'NOBYPASSRLS' : ''].filter(Boolean).join(' ')};`,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------

/** Findings as text for a terminal: one block per finding, errors first, and a count. */
export function formatFindings(findings: Finding[]): string {
  if (findings.length === 0) return 'no findings';
  const sorted = sortFindings(findings);
  const blocks = sorted.map((f) =>
    [
      `${f.level.toUpperCase().padEnd(7)} ${f.check}  ${f.object}`,
      `        why: ${f.why}`,
      `        fix: ${f.fix.split('\n').join('\n             ')}`,
    ].join('\n'),
  );
  const errors = sorted.filter((f) => f.level === 'error').length;
  const warnings = sorted.length - errors;
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${blocks.join('\n\n')}\n\n${count(errors, 'error')}, ${count(warnings, 'warning')}`;
}
