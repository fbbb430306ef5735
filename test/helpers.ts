import { request } from 'node:http';
import postgres from 'postgres';
import { inject } from 'vitest';
import type { Gateway } from '../src/server.js';
import { type GqlResponse, NO_RATE_LIMITS, startTestGateway } from '../src/testing/index.js';

export type { GqlResponse } from '../src/testing/index.js';

export type TestGateway = {
  url: string;
  gateway: Gateway;
  /** Superuser connection to this file's own database, for setup and SQL-level checks. */
  admin: postgres.Sql;
  dbUrl: string;
  /** The SECRETS_KEY this gateway seals its private keys with: a second gateway or the CLI on `dbUrl` needs it. */
  secretsKey: string;
  queries: string[];
  gql: <T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
    headers?: Record<string, string>,
  ) => Promise<GqlResponse<T>>;
  close: () => Promise<void>;
};

/**
 * A real gateway on a real HTTP port, on a fresh database of the run's Postgres: the
 * package's own `authgate/testing` helper, as an app's tests use it.
 * `env` overrides configuration the way an operator would.
 */
export async function startGateway(
  env: Record<string, string> = {},
  opts: { logs?: string[]; port?: number } = {},
): Promise<TestGateway> {
  const queries: string[] = [];
  const t = await startTestGateway({
    adminUrl: inject('adminUrl'),
    env,
    onQuery: (q) => queries.push(q),
    ...opts,
  });
  return {
    url: t.url,
    gateway: t.gateway,
    admin: t.admin,
    dbUrl: t.dbUrl,
    secretsKey: t.secretsKey,
    queries,
    gql: (query, variables, token, headers) => t.gql(query, variables, token ?? null, headers),
    close: t.close,
  };
}

export { NO_RATE_LIMITS };

let seq = 0;
/** A fresh, valid email per call. */
export const email = (tag = 'user'): string => `${tag}${Date.now().toString(36)}${(seq++).toString(36)}@example.com`;
export const PASSWORD = 'correct horse battery';

export const SIGN_UP = /* GraphQL */ `
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      accessToken refreshToken tokenType expiresIn expiresAt
      user { id email role createdAt lastSignInAt userMetadata appMetadata
             profile { id username fullName avatarUrl website isPublic createdAt updatedAt } }
    }
  }`;
export const SIGN_IN = /* GraphQL */ `
  mutation SignIn($input: SignInInput!) {
    signIn(input: $input) { accessToken refreshToken tokenType expiresIn expiresAt user { id email lastSignInAt } }
  }`;
export const REFRESH = /* GraphQL */ `
  mutation Refresh($token: String!) {
    refresh(refreshToken: $token) { accessToken refreshToken expiresIn user { id } }
  }`;
export const ME = /* GraphQL */ `query Me { me { id email role userMetadata appMetadata profile { id username isPublic } } }`;

export type Session = { accessToken: string; refreshToken: string; userId: string; email: string };

/** Signs up a new user and returns its tokens. */
export async function signUp(t: TestGateway, data?: Record<string, unknown>, mail = email()): Promise<Session> {
  const res = await t.gql(SIGN_UP, { input: { email: mail, password: PASSWORD, data } });
  if (!res.data?.signUp) throw new Error(`signUp failed: ${JSON.stringify(res.errors)}`);
  const p = res.data.signUp;
  return { accessToken: p.accessToken, refreshToken: p.refreshToken, userId: p.user.id, email: mail };
}

export const codeOf = (res: GqlResponse): unknown => res.errors?.[0]?.extensions?.code;

/**
 * Connections as a gateway's own login role (neither superuser nor BYPASSRLS), for probing
 * policies from SQL as the request path sees them. `end` closes every one opened.
 */
export function loginConnections(): { open: (gw: TestGateway) => Promise<postgres.Sql>; end: () => Promise<void> } {
  const opened: postgres.Sql[] = [];
  return {
    open: async (gw) => {
      const sql = postgres(gw.gateway.loginUrl, { max: 1, connect_timeout: 5, idle_timeout: 5, onnotice: () => {} });
      opened.push(sql);
      return sql;
    },
    end: async () => {
      await Promise.all(opened.map((l) => l.end({ timeout: 5 })));
    },
  };
}

class Rollback extends Error {}

/** Runs `fn` in a transaction on `sql` after `setup`, always rolled back. */
export async function inTx<T>(
  sql: postgres.Sql,
  setup: (q: postgres.TransactionSql) => Promise<unknown>,
  fn: (q: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  let out: T | undefined;
  try {
    await sql.begin(async (q) => {
      await setup(q);
      out = await fn(q);
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return out as T;
}

export type Answer = { status: number; headers: Record<string, string | string[] | undefined>; text: string };

/** One request over node:http, so method, headers and framing are exactly what the test says. */
export function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    // end(body) sends a Content-Length; a body written before end() goes chunked.
    const chunked = headers['transfer-encoding'] === 'chunked';
    if (chunked && body !== undefined) req.write(body);
    req.end(chunked ? undefined : body);
  });
}
