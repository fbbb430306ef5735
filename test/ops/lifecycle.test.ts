import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ME, PASSWORD, SIGN_IN, signUp, startGateway } from '../helpers.js';

describe('connections and shutdown', () => {
  it('holds no connection for clients that disconnect mid-request', async () => {
    const t = await startGateway();
    try {
      const s = await signUp(t);
      const port = Number(new URL(t.url).port);
      // 40 requests whose clients hang up as soon as the body is sent.
      await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) =>
            new Promise<void>((resolve) => {
              const body = JSON.stringify({ query: i % 2 ? ME : '{ profiles(first: 50) { edges { cursor } } }' });
              const req = request({
                host: '127.0.0.1',
                port,
                path: '/graphql',
                method: 'POST',
                headers: {
                  'content-type': 'application/json',
                  'content-length': Buffer.byteLength(body),
                  authorization: `Bearer ${s.accessToken}`,
                },
              });
              req.on('error', () => resolve());
              req.end(body, () => {
                req.destroy();
                resolve();
              });
            }),
        ),
      );
      // Every connection comes back once the last of those requests ran (on a loaded machine
      // that may take a while): wait until the gauge and Postgres agree that nothing is in a
      // transaction, three polls in a row. A leaked connection never gets there.
      const inTransaction = async () => {
        const [row] = await t.admin`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and application_name = 'authgate'
            and (state = 'active' or state like 'idle in transaction%')`;
        return row!.n;
      };
      let metrics = '';
      let busy = -1;
      for (let quiet = 0, waited = 0; quiet < 3 && waited < 10_000; waited += 100) {
        metrics = await (await fetch(t.url.replace(/\/graphql$/, '/metrics'))).text();
        busy = await inTransaction();
        quiet = busy === 0 && /^authgate_db_connections_in_use 0$/m.test(metrics) ? quiet + 1 : 0;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(metrics).toMatch(/^authgate_db_connections_in_use 0$/m);
      expect(busy).toBe(0);
      // And the gateway still serves.
      expect((await t.gql(ME, {}, s.accessToken)).data?.me?.id).toBe(s.userId);
    } finally {
      await t.close();
    }
  });

  it('on close: turns /readyz to 503, finishes in-flight requests, then refuses new ones', async () => {
    const t = await startGateway();
    const s = await signUp(t);
    const base = t.url.replace(/\/graphql$/, '');
    // Sign-ins take an argon2 verify each: they are in flight when the drain starts.
    const inflight = Array.from({ length: 6 }, () => t.gql(SIGN_IN, { input: { email: s.email, password: PASSWORD } }));
    await new Promise((r) => setTimeout(r, 20));
    const closing = t.gateway.close(600);
    await new Promise((r) => setTimeout(r, 100));
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('connection')).toBe('close');
    const results = await Promise.all(inflight);
    expect(results.every((r) => r.status === 200 && r.data?.signIn?.accessToken)).toBe(true);
    await closing;
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    await t.close(); // a second close is harmless; it also drops the database
  });
});
