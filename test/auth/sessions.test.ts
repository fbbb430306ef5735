import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, ME, REFRESH, signUp, startGateway, type TestGateway } from '../helpers.js';
import { NO_LIMITS, SESSIONS, sessionId, usersOf } from './support.js';

/** A user's sessions: listing them with the current one marked, and revoking one of them. */

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(NO_LIMITS);
});
afterAll(async () => {
  await t?.close();
});

const REVOKE = 'mutation Revoke($id: ID!) { revokeSession(id: $id) }';
const SIGN_OUT = 'mutation { signOut }';

const { newSession, whoAmI } = usersOf(() => t);

describe('sessions', () => {
  it("lists the caller's sessions with exactly the request's own one marked current", async () => {
    const s = await signUp(t);
    // End the sign-up session so the user has exactly the three below.
    expect((await t.gql(SIGN_OUT, {}, s.accessToken)).data).toEqual({ signOut: true });
    const ua = `sessions-test/${randomBytes(3).toString('hex')}`;
    const three = [];
    for (let i = 0; i < 3; i++) three.push(await newSession(s.email, { 'user-agent': ua }));
    const stranger = await signUp(t);

    const res = await t.gql(SESSIONS, {}, three[1]!.accessToken);
    expect(res.errors).toBeUndefined();
    const list = res.data!.sessions as Array<Record<string, any>>;
    expect(list).toHaveLength(3);
    expect(new Set(list.map((x) => x.id))).toEqual(new Set(three.map(sessionId)));
    expect(list.map((x) => x.id)).not.toContain(sessionId(stranger));
    const current = list.filter((x) => x.current);
    expect(current).toHaveLength(1);
    expect(current[0]!.id).toBe(decodeJwt(three[1]!.accessToken).session_id);
    for (const x of list) {
      expect(x.userAgent).toBe(ua);
      expect(x.ip).toContain('127.0.0.1');
      expect(Number.isNaN(Date.parse(x.createdAt))).toBe(false);
    }

    // Another of the three sees the same list, with its own session current.
    const other = await t.gql(SESSIONS, {}, three[2]!.accessToken);
    const otherCurrent = (other.data!.sessions as Array<{ id: string; current: boolean }>).filter((x) => x.current);
    expect(otherCurrent.map((x) => x.id)).toEqual([sessionId(three[2]!)]);
  });

  it('refuses an anonymous caller with UNAUTHENTICATED', async () => {
    const res = await t.gql(SESSIONS);
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    expect(res.data ?? null).toBeNull();
  });
});

describe('revokeSession', () => {
  it('ends that session at once: its access token and its refresh token stop working', async () => {
    const s = await signUp(t);
    const second = await newSession(s.email);
    const res = await t.gql(REVOKE, { id: sessionId(second) }, s.accessToken);
    expect(res.data).toEqual({ revokeSession: true });
    expect(codeOf(await t.gql(ME, {}, second.accessToken))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { token: second.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    // The caller's own session is untouched, and the revoked one is gone from its list.
    expect(await whoAmI(s)).toBe(s.userId);
    const list = await t.gql(SESSIONS, {}, s.accessToken);
    expect((list.data!.sessions as Array<{ id: string }>).map((x) => x.id)).toEqual([sessionId(s)]);
  });

  it("answers false for another user's session and leaves that session working", async () => {
    const a = await signUp(t);
    const b = await signUp(t);
    expect((await t.gql(REVOKE, { id: sessionId(b) }, a.accessToken)).data).toEqual({ revokeSession: false });
    expect((await t.gql(REVOKE, { id: randomUUID() }, a.accessToken)).data).toEqual({ revokeSession: false });
    expect(await whoAmI(b)).toBe(b.userId);
    const r = await t.gql(REFRESH, { token: b.refreshToken });
    expect(r.errors).toBeUndefined();
    expect(sessionId(r.data!.refresh)).toBe(sessionId(b));
  });

  it('refuses an id that is not a uuid with BAD_USER_INPUT', async () => {
    const s = await signUp(t);
    expect(codeOf(await t.gql(REVOKE, { id: 'not-a-uuid' }, s.accessToken))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(REVOKE, { id: "x' or '1'='1" }, s.accessToken))).toBe('BAD_USER_INPUT');
    expect(await whoAmI(s)).toBe(s.userId);
  });

  it('needs a signed-in caller', async () => {
    expect(codeOf(await t.gql(REVOKE, { id: randomUUID() }))).toBe('UNAUTHENTICATED');
  });
});
