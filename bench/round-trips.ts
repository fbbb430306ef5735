/**
 * Database round trips per GraphQL request, counted on a gateway inside the bench process:
 * statements per event-loop turn (postgres.js debug hook) and socket writes to Postgres per turn.
 */
import net from 'node:net';
import { freePort, sleep } from './proc.js';
import { PROFILES_NOTES, type Results } from './report.js';
import { gql, gqlBody, Q } from './scenarios.js';
import { held, log } from './servers.js';

/**
 * Statements and round trips per GraphQL request, on a gateway in this process whose app pool
 * reports every statement (postgres.js debug hook). A round trip is the statements sent in
 * one event-loop turn; the critical path leaves out a trailing COMMIT that the answer does
 * not wait for.
 */
export async function countRoundTrips(
  adminUrl: string,
  token: string,
  limit: string,
  secretsKey: string,
  appConfig: string,
  signInBody: string,
): Promise<Results['roundTrips']> {
  // A refresh spends its token: each one gets a token of its own, from a sign-in not counted.
  let spare = '';
  const refreshBody = () => gqlBody(Q.refresh, { refreshToken: spare });
  const queries: Array<{
    label: string;
    body: string | (() => string);
    auth: boolean;
    before?: (url: string) => Promise<void>;
  }> = [
    { label: 'signIn (the auth path)', body: signInBody, auth: false },
    {
      label: 'refresh (the auth path)',
      body: refreshBody,
      auth: false,
      before: async (url) => {
        spare = (await gql(url, signInBody)).json?.data?.signIn?.refreshToken ?? '';
      },
    },
    { label: 'me', body: gqlBody(Q.me), auth: true },
    { label: 'profiles(first: 20)', body: gqlBody(Q.profiles(20)), auth: true },
    { label: 'profiles(first: 100) + me { profile }', body: gqlBody(Q.profilesAndMe), auth: true },
    { label: PROFILES_NOTES, body: gqlBody(Q.profilesNotes), auth: true },
    { label: 'anonymous profiles(first: 5)', body: gqlBody(Q.profiles(5)), auth: false },
    { label: 'anonymous profiles(first: 20)', body: gqlBody(Q.profiles(20)), auth: false },
    { label: 'anonymous profiles(first: 100)', body: gqlBody(Q.profiles(100)), auth: false },
  ];
  let restoreWrite = () => {};
  try {
    const { loadConfig } = await import('../src/config.js');
    const { createGateway } = await import('../src/server.js');
    const { loadApp } = await import('../src/app-loader.js');
    // The same app as the gateway process: its fields on this process's builder, its
    // migrations already applied there (applying them again is a no-op).
    const app = await loadApp({ configFile: appConfig });
    let recording = false;
    let open = false;
    let batches: string[][] = [];
    // On the wire: every socket write to Postgres, grouped per event-loop turn. This also sees
    // what the statement hook cannot: postgres.js answering a Describe before it can Bind.
    const pg = new URL(adminUrl);
    const pgPort = Number(pg.port || 5432);
    let wireOpen = false;
    let wire = 0;
    const write = net.Socket.prototype.write;
    net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
      if (recording && this.remotePort === pgPort && !wireOpen) {
        wire++;
        wireOpen = true;
        setImmediate(() => {
          wireOpen = false;
        });
      }
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof write;
    restoreWrite = () => {
      net.Socket.prototype.write = write;
    };
    const statement = (q: string) => {
      if (!recording) return;
      if (!open) {
        batches.push([]);
        open = true;
        setImmediate(() => {
          open = false;
        });
      }
      batches.at(-1)!.push(q.replace(/\s+/g, ' ').trim());
    };
    const gw = await createGateway(
      loadConfig({
        NODE_ENV: process.env.BENCH_NODE_ENV ?? 'production',
        LOG_LEVEL: 'silent',
        SECRETS_KEY: secretsKey,
        RATE_LIMIT_SIGNUP_IP_MAX: limit,
        RATE_LIMIT_TOKEN_IP_MAX: limit,
        RATE_LIMIT_SIGNIN_EMAIL_MAX: limit,
        RATE_LIMIT_SIGNIN_EMAIL_CEILING: limit,
      }),
      adminUrl,
      {
        app,
        onQuery: (q) => statement(q),
        onAuthQuery: (q) => statement(q),
      },
    );
    held.inProcess = gw;
    const port = await gw.listen(await freePort(), '127.0.0.1');
    const url = `http://127.0.0.1:${port}/graphql`;
    const out: Results['roundTrips'] = [];
    for (const q of queries) {
      const seen: Array<{
        statements: number;
        roundTrips: number;
        critical: number;
        wire: number;
        wireCritical: number;
      }> = [];
      let sample: string[][] = [];
      for (let i = 0; i < 6; i++) {
        batches = [];
        wire = 0;
        await q.before?.(url);
        recording = i > 0; // the first request warms the connection and prepared statements
        const r = await gql(url, typeof q.body === 'string' ? q.body : q.body(), q.auth ? token : undefined);
        if (r.status !== 200 || r.json?.errors) throw new Error(`${q.label}: ${JSON.stringify(r.json).slice(0, 300)}`);
        await sleep(30); // the COMMIT that the answer did not wait for
        recording = false;
        if (i === 0) continue;
        const last = batches.at(-1);
        const trailingCommit = last !== undefined && last.length === 1 && /^commit$/i.test(last[0]!);
        seen.push({
          statements: batches.reduce((s, b) => s + b.length, 0),
          roundTrips: batches.length,
          critical: batches.length - (trailingCommit ? 1 : 0),
          wire,
          wireCritical: wire - (trailingCommit ? 1 : 0),
        });
        sample = batches;
      }
      type K = keyof (typeof seen)[number];
      const max = (k: K) => Math.max(...seen.map((s) => s[k]));
      const min = (k: K) => Math.min(...seen.map((s) => s[k]));
      out.push({
        query: q.label,
        statements: max('statements'),
        roundTrips: max('roundTrips'),
        criticalPath: max('critical'),
        wireRoundTrips: max('wire'),
        wireCriticalPath: max('wireCritical'),
        stable:
          min('statements') === max('statements') &&
          min('roundTrips') === max('roundTrips') &&
          min('wire') === max('wire'),
        batches: sample.map((b) => b.map((s) => (s.length > 90 ? `${s.slice(0, 87)}...` : s))),
      });
      log(
        `round trips: ${q.label.padEnd(38)} ${max('statements')} statements, ${max('roundTrips')} round trips (critical path ${max('critical')}), on the wire ${max('wire')} (critical path ${max('wireCritical')})`,
      );
    }
    restoreWrite();
    await gw.close();
    held.inProcess = undefined;
    return out;
  } catch (err) {
    restoreWrite();
    log(`round trips: FAILED (${(err as Error).message})`);
    await held.inProcess?.close().catch(() => {});
    held.inProcess = undefined;
    return queries.map((q) => ({
      query: q.label,
      statements: null,
      roundTrips: null,
      criticalPath: null,
      wireRoundTrips: null,
      wireCriticalPath: null,
      stable: false,
      batches: [],
      error: (err as Error).message.slice(0, 300),
    }));
  }
}
