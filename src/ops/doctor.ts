import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { DEFAULT_SCHEMAS, formatFindings, runDoctor } from './rls-doctor.js';

/**
 * `authgate doctor`: lints the row level security of DATABASE_URL (an admin URL) and prints
 * each finding with why it matters and the SQL that fixes it. Exit status: 0 when no finding
 * is an error, 1 when one is, 2 on a usage or connection problem.
 */

const USAGE = `usage: authgate doctor [--schema public,app]

Lints the row level security of the database at DATABASE_URL (an admin URL):
  - every table in the exposed schemas has RLS enabled and forced, and a policy
  - views readable by anon/authenticated are security_invoker
  - policies call auth.uid()/auth.jwt()/auth.role() as (select ...), not once per row
  - columns that policies compare with auth.uid() are indexed
  - anon and authenticated hold nothing in schema auth but EXECUTE on functions
  - the gateway's roles, and login roles in anon/authenticated, are not SUPERUSER or BYPASSRLS

Options:
  --schema LIST  comma-separated exposed schemas (default: ${DEFAULT_SCHEMAS.join(',')})
  -h, --help     this text

Exit status: 0 no error-level finding, 1 at least one, 2 usage or connection problem.`;

async function main(argv: string[]): Promise<number> {
  let values: { schema?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { schema: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`authgate doctor: ${(err as Error).message} (see --help)`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('authgate doctor: DATABASE_URL is not set; point it at an admin URL of the database to check');
    return 2;
  }
  const schemas = values.schema
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (values.schema !== undefined && schemas?.length === 0) {
    console.error('authgate doctor: --schema needs at least one schema name');
    return 2;
  }
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const findings = await runDoctor(sql, schemas ? { schemas } : {});
    console.log(formatFindings(findings));
    return findings.some((f) => f.level === 'error') ? 1 : 0;
  } catch (err) {
    console.error(`authgate doctor: ${(err as Error).message}`);
    return 2;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

process.exitCode = await main(process.argv.slice(2));
