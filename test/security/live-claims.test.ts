import { decodeJwt } from 'jose';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTx, loginConnections, signUp, startGateway, type TestGateway } from '../helpers.js';

/**
 * auth.require_live_claims(): what PostgREST (db-pre-request) or PostGraphile (a pgSettings
 * hook) calls beside the gateway, so a signed-out session or a banned user is refused on
 * the next request there too. Called here the way they call it: as the login role, inside
 * the request's transaction, after request.jwt.claims and the role were set.
 */

let t: TestGateway;
let sql: postgres.Sql;
const logins = loginConnections();

beforeAll(async () => {
  t = await startGateway();
  sql = await logins.open(t);
});
afterAll(async () => {
  await logins.end();
  await t?.close();
});

/** The function's answer under `claims` and `role`: 'ok' or the SQLSTATE it raised. */
async function check(claims: Record<string, unknown> | null, role: string): Promise<string> {
  try {
    await inTx(
      sql,
      (q) =>
        q`select set_config('request.jwt.claims', ${claims ? JSON.stringify(claims) : ''}, true),
                 set_config('role', ${role}, true)`,
      (q) => q`select auth.require_live_claims()`,
    );
    return 'ok';
  } catch (err) {
    return (err as { code: string }).code;
  }
}

describe('auth.require_live_claims()', () => {
  it('passes a live session, refuses it once signed out (PT401, PostgREST answers 401)', async () => {
    const s = await signUp(t);
    const claims = decodeJwt(s.accessToken);
    expect(await check(claims, 'authenticated')).toBe('ok');
    await t.gql('mutation { signOut }', {}, s.accessToken);
    expect(await check(claims, 'authenticated')).toBe('PT401');
  });

  it('refuses a banned user, with or without a session of ours in the claims', async () => {
    const s = await signUp(t);
    const claims = decodeJwt(s.accessToken);
    await t.admin`update auth.users set banned_until = now() + interval '1 hour' where id = ${s.userId}`;
    expect(await check(claims, 'authenticated')).toBe('PT401');
    const { session_id: _drop, ...external } = claims;
    expect(await check(external, 'authenticated')).toBe('PT401');
  });

  it('checks the session of a token whose role the access-token hook chose', async () => {
    const s = await signUp(t);
    // ACCESS_TOKEN_HOOK_ROLES may put another role in a user's token; it is still our session.
    const claims = { ...decodeJwt(s.accessToken), role: 'org_admin' };
    expect(await check(claims, 'authenticated')).toBe('ok');
    await t.gql('mutation { signOut }', {}, s.accessToken);
    expect(await check(claims, 'authenticated')).toBe('PT401');
  });

  it('lets anon through', async () => {
    expect(await check({ role: 'anon' }, 'anon')).toBe('ok');
    expect(await check(null, 'anon')).toBe('ok');
  });
});
