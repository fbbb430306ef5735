import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestTx } from '../../src/db/rls.js';
import { NO_LIMITS } from '../auth/support.js';
import { loginConnections, startGateway, type TestGateway } from '../helpers.js';

/**
 * A request gives its connection back as soon as its COMMIT (or ROLLBACK) is on the wire, so
 * the next request's BEGIN goes out without waiting for that answer. Postgres runs a
 * connection's statements in order, so nothing of the next request may run inside the one
 * before: these pin both halves on a pool of one connection.
 */

let t: TestGateway;
const logins = loginConnections();
let pool: postgres.Sql;

beforeAll(async () => {
  t = await startGateway(NO_LIMITS);
  pool = await logins.open(t);
});
afterAll(async () => {
  await logins.end();
  await t?.close();
});

const STATE = `select txid_current()::text as txid,
  current_setting('request.jwt.claims') as claims,
  current_setting('authgate.test_marker', true) as marker`;

type State = { txid: string; claims: string; marker: string | null };

/** Postgres reads a custom setting never made as null, and one made and undone as ''. */
const unset = (marker: string | null) => marker === null || marker === '';

async function state(sql: postgres.ReservedSql): Promise<State> {
  const [row] = await sql.unsafe<State[]>(STATE);
  return row!;
}

describe.each([
  ['COMMIT', true],
  ['ROLLBACK', false],
])('the connection after %s', (_end, ok) => {
  it('goes to the next request before the answer, which starts a transaction of its own', async () => {
    const a = requestTx(pool, { role: 'anon', request: 'a' });
    const aSql = await a.sql();
    await aSql.unsafe(`select set_config('authgate.test_marker', 'left by a', true)`);
    const before = await state(aSql);
    expect(before.marker).toBe('left by a');

    // The pool has one connection: b waits for a's.
    const b = requestTx(pool, { role: 'anon', request: 'b' });
    const order: string[] = [];
    const bSql = b.sql().then((sql) => {
      order.push('b holds the connection');
      return sql;
    });
    await a.finish(ok, true).then(() => order.push(`a's end answered`));
    const after = await state(await bSql);
    await b.finish(true, true);

    expect(order).toEqual(['b holds the connection', `a's end answered`]);
    expect(after.txid).not.toBe(before.txid);
    expect(JSON.parse(after.claims)).toEqual({ role: 'anon', request: 'b' });
    expect(unset(after.marker)).toBe(true);
  });
});

it('a query of a finished request fails instead of running in the next one', async () => {
  const a = requestTx(pool, { role: 'anon' });
  await a.sql();
  const b = requestTx(pool, { role: 'anon', request: 'b' });
  const bSql = b.sql();
  await a.finish(true, false);
  await expect(a.sql()).rejects.toThrow(/request has finished/);
  expect(unset((await state(await bSql)).marker)).toBe(true);
  await b.finish(true, true);
});
