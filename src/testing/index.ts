import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type postgres from 'postgres';
import { type LoadedApp, loadApp, NO_APP } from '../app-loader.js';
import { loadConfig } from '../config.js';
import { connectPostgres } from '../db/connect.js';
import { startEmbedded } from '../db/embedded.js';
import { createGateway, type Gateway } from '../server.js';
import { freePort } from '../shared/ports.js';

// Helpers for an app's own tests (`import … from 'authgate/testing'`): a real gateway on a
// real database, and requests as a given user or as anon. Nothing is mocked.

/** A GraphQL answer; `data` as the test expects it. */
// `any` by default: tests read answers dynamically and assert on their shape.
// biome-ignore lint/suspicious/noExplicitAny: see above
export type GqlResponse<T = Record<string, any>> = {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
};

/** A signed-in user: its tokens, id and email. Pass it (or its access token) as `as`. */
export type TestSession = { accessToken: string; refreshToken: string; userId: string; email: string };

export type TestGateway = {
  /** The GraphQL endpoint, http://127.0.0.1:<port>/graphql. */
  url: string;
  gateway: Gateway;
  /** A superuser connection to this gateway's own database: set-up and SQL-level checks. */
  admin: postgres.Sql;
  /**
   * A connection as the request path's login role, the role every request runs as before
   * it switches to anon or authenticated: what SQL an attacker holding it could reach.
   */
  loginRole: postgres.Sql;
  /** This database's admin URL (a second gateway or the CLI on it needs `secretsKey` too). */
  dbUrl: string;
  /** The SECRETS_KEY this gateway seals its private signing keys with. */
  secretsKey: string;
  /** A GraphQL request as `as` (a session or an access token), or as anon without it. */
  gql: <T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    as?: TestSession | string | null,
    headers?: Record<string, string>,
  ) => Promise<GqlResponse<T>>;
  /** A new user (email and password), signed in. */
  signUp: (input?: { email?: string; password?: string; data?: Record<string, unknown> }) => Promise<TestSession>;
  /** Stops the gateway and drops its database. */
  close: () => Promise<void>;
};

export type TestGatewayOptions = {
  /** Environment for the gateway's configuration, as an operator would set it. */
  env?: Record<string, string>;
  /**
   * The app: a path to its `authgate.config.*` (its GraphQL modules are imported and its
   * migrations applied), or one loaded already. Default: none.
   */
  app?: string | LoadedApp;
  /**
   * A superuser URL of a Postgres cluster to create the test database in. Default:
   * TEST_DATABASE_URL, else an embedded Postgres started once per process in a temporary
   * folder (stop it with `stopTestPostgres` when the tests are done).
   */
  adminUrl?: string;
  /** Every SQL statement the gateway's request pool sends (for counting round trips). */
  onQuery?: (query: string) => void;
  /** Log lines, for tests that read them. */
  logs?: string[];
  port?: number;
};

/** Rate limits off: tests make far more sign-ups from 127.0.0.1 than any real client. */
export const NO_RATE_LIMITS: Record<string, string> = {
  RATE_LIMIT_SIGNUP_IP_MAX: '0',
  RATE_LIMIT_TOKEN_IP_MAX: '0',
  RATE_LIMIT_SIGNIN_EMAIL_MAX: '0',
  RATE_LIMIT_SIGNIN_EMAIL_CEILING: '0',
  RATE_LIMIT_EMAIL_MAX: '0',
  RATE_LIMIT_EMAIL_CEILING: '0',
};

export const TEST_PASSWORD = 'correct horse battery';

let cluster: Promise<{ url: string; stop: () => Promise<void> }> | undefined;

/** The process's embedded Postgres, started on first use in a temporary folder. */
function testCluster(): Promise<{ url: string; stop: () => Promise<void> }> {
  cluster ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'authgate-test-'));
    const db = await startEmbedded({ dataDir: dir, port: await freePort(), persistent: false });
    return {
      url: db.url,
      stop: async () => {
        await db.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  })();
  return cluster;
}

/** Stops the embedded Postgres that startTestGateway started, if it did. */
export async function stopTestPostgres(): Promise<void> {
  const running = cluster;
  cluster = undefined;
  if (running) await (await running).stop();
}

let seq = 0;

/**
 * A real gateway on a real HTTP port (127.0.0.1), on a fresh database of its own, with the
 * app's types and migrations when `app` is given. Rate limits are off unless `env` sets them.
 */
export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const root = opts.adminUrl ?? process.env.TEST_DATABASE_URL ?? (await testCluster()).url;
  const database = await createTestDatabase(root);
  const dbUrl = database.url;
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...NO_RATE_LIMITS,
    // A key of its own, so no test writes DATA_DIR/secrets.key into the working tree.
    SECRETS_KEY: randomBytes(32).toString('base64url'),
    ...opts.env,
  });
  const app = typeof opts.app === 'string' ? await loadApp({ configFile: opts.app }) : (opts.app ?? NO_APP);
  const logs = opts.logs;
  const gateway = await createGateway(config, dbUrl, {
    app,
    ...(opts.onQuery ? { onQuery: opts.onQuery } : {}),
    ...(logs ? { logDestination: { write: (line: string) => void logs.push(line) } } : {}),
  });
  const port = await gateway.listen(opts.port ?? 0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}/graphql`;
  const admin = connectPostgres(dbUrl, { max: 2, onnotice: () => {} });
  const loginRole = connectPostgres(gateway.loginUrl, { max: 1, onnotice: () => {} });
  const gql: TestGateway['gql'] = async (query, variables, as, headers) => {
    const token = typeof as === 'string' ? as : as?.accessToken;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as GqlResponse;
    // `as never`: the caller names the shape of `data` it expects.
    return { ...body, status: res.status } as never;
  };
  return {
    url,
    gateway,
    admin,
    loginRole,
    dbUrl,
    secretsKey: config.secretsKey.current!,
    gql,
    signUp: async (input = {}) => {
      const email = input.email ?? `user${Date.now().toString(36)}${(seq++).toString(36)}@example.com`;
      const res = await gql<{ signUp: { accessToken: string; refreshToken: string; user: { id: string } } }>(
        `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } } }`,
        { input: { email, password: input.password ?? TEST_PASSWORD, data: input.data } },
      );
      const p = res.data?.signUp;
      if (!p) throw new Error(`signUp failed: ${JSON.stringify(res.errors)}`);
      return { accessToken: p.accessToken, refreshToken: p.refreshToken, userId: p.user.id, email };
    },
    close: async () => {
      await gateway.close();
      await Promise.all([admin.end(), loginRole.end()]);
      await database.drop();
    },
  };
}

/**
 * A new, empty database on the cluster of `rootUrl` (a superuser URL): its URL, and `drop`,
 * which removes it even while connections to it remain.
 */
export async function createTestDatabase(rootUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `authgate_t_${randomBytes(6).toString('hex')}`;
  const server = connectPostgres(rootUrl, { max: 1, onnotice: () => {} });
  try {
    await server.unsafe(`create database ${name}`);
  } finally {
    await server.end();
  }
  const u = new URL(rootUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const s = connectPostgres(rootUrl, { max: 1, onnotice: () => {} });
      try {
        await s.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await s.end();
      }
    },
  };
}
