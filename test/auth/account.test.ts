import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, email, ME, PASSWORD, REFRESH, signUp, startGateway, type TestGateway } from '../helpers.js';
import { NO_LIMITS, SESSIONS, sessionId, usersOf } from './support.js';

/** Self-service account changes: updateUser (metadata, password, email) and deleteAccount. */

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(NO_LIMITS);
});
afterAll(async () => {
  await t?.close();
});

const UPDATE_USER = /* GraphQL */ `
  mutation UpdateUser($input: UpdateUserInput!) {
    updateUser(input: $input) { id email userMetadata appMetadata }
  }`;
const DELETE_ACCOUNT = 'mutation Del($password: String!) { deleteAccount(password: $password) }';

const { signIn, newSession, whoAmI, count } = usersOf(() => t);

describe('updateUser', () => {
  it('merges data into user_metadata, keeping other keys, and the next token carries the merge', async () => {
    const username = `u_${randomBytes(5).toString('hex')}`;
    const s = await signUp(t, { username, theme: 'dark', nested: { a: 1 } });
    const res = await t.gql(UPDATE_USER, { input: { data: { theme: 'light', lang: 'en' } } }, s.accessToken);
    expect(res.errors).toBeUndefined();
    const merged = { username, theme: 'light', lang: 'en', nested: { a: 1 } };
    expect(res.data!.updateUser.userMetadata).toEqual(merged);
    expect((await t.gql(ME, {}, s.accessToken)).data!.me.userMetadata).toEqual(merged);

    const r = await t.gql(REFRESH, { token: s.refreshToken });
    expect(r.errors).toBeUndefined();
    expect(decodeJwt(r.data!.refresh.accessToken).user_metadata).toEqual(merged);
  });

  describe('changing the password', () => {
    it('needs currentPassword (BAD_USER_INPUT) and leaves the password as it was', async () => {
      const s = await signUp(t);
      const res = await t.gql(UPDATE_USER, { input: { password: 'a brand new password' } }, s.accessToken);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect((await signIn(s.email)).errors).toBeUndefined();
      expect(codeOf(await signIn(s.email, 'a brand new password'))).toBe('INVALID_CREDENTIALS');
    });

    it('refuses a wrong currentPassword with INVALID_CREDENTIALS and keeps the other sessions', async () => {
      const s = await signUp(t);
      const other = await newSession(s.email);
      const res = await t.gql(
        UPDATE_USER,
        { input: { password: 'a brand new password', currentPassword: 'not the password' } },
        s.accessToken,
      );
      expect(codeOf(res)).toBe('INVALID_CREDENTIALS');
      expect(await whoAmI(other)).toBe(s.userId);
      expect((await signIn(s.email)).errors).toBeUndefined();
    });

    it('refuses a too short new password with WEAK_PASSWORD', async () => {
      const s = await signUp(t);
      const res = await t.gql(UPDATE_USER, { input: { password: 'short', currentPassword: PASSWORD } }, s.accessToken);
      expect(codeOf(res)).toBe('WEAK_PASSWORD');
      expect((await signIn(s.email)).errors).toBeUndefined();
    });

    it('with the right currentPassword: changes it and ends every other session, not this one', async () => {
      const s = await signUp(t);
      const others = [await newSession(s.email), await newSession(s.email)];
      const current = await newSession(s.email);
      const next = 'an entirely new passphrase';
      const res = await t.gql(
        UPDATE_USER,
        { input: { password: next, currentPassword: PASSWORD } },
        current.accessToken,
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.updateUser.id).toBe(s.userId);

      for (const o of [s, ...others]) {
        expect(await whoAmI(o)).toBe('UNAUTHENTICATED');
        expect(codeOf(await t.gql(REFRESH, { token: o.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
      }
      expect(await whoAmI(current)).toBe(s.userId);
      const list = await t.gql(SESSIONS, {}, current.accessToken);
      expect((list.data!.sessions as Array<{ id: string }>).map((x) => x.id)).toEqual([sessionId(current)]);

      expect(codeOf(await signIn(s.email, PASSWORD))).toBe('INVALID_CREDENTIALS');
      const fresh = await signIn(s.email, next);
      expect(fresh.errors).toBeUndefined();
      expect(fresh.data!.signIn.user.id).toBe(s.userId);
    });
  });

  describe('changing the email', () => {
    it("refuses another account's email in any case with EMAIL_TAKEN", async () => {
      const a = await signUp(t);
      const b = await signUp(t);
      const res = await t.gql(UPDATE_USER, { input: { email: ` ${b.email.toUpperCase()} ` } }, a.accessToken);
      expect(codeOf(res)).toBe('EMAIL_TAKEN');
      expect((await t.gql(ME, {}, a.accessToken)).data!.me.email).toBe(a.email);
      expect((await signIn(a.email)).data!.signIn.user.id).toBe(a.userId);
      expect((await signIn(b.email)).data!.signIn.user.id).toBe(b.userId);
    });

    it('keeps the account on its address until the change is proven by mail: the new one is only pending', async () => {
      const s = await signUp(t);
      const fresh = email('moved');
      const res = await t.gql(
        'mutation U($input: UpdateUserInput!) { updateUser(input: $input) { id email pendingEmail } }',
        { input: { email: fresh.toUpperCase() } },
        s.accessToken,
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.updateUser).toMatchObject({ email: s.email, pendingEmail: fresh });
      expect((await t.gql(ME, {}, s.accessToken)).data!.me.email).toBe(s.email);
      expect(codeOf(await signIn(fresh))).toBe('INVALID_CREDENTIALS');
      expect((await signIn(s.email)).data!.signIn.user.id).toBe(s.userId);
      // The pending address holds nothing: its owner can still sign up with it.
      expect((await signUp(t, undefined, fresh)).userId).not.toBe(s.userId);
    });
  });

  it('needs a signed-in caller', async () => {
    expect(codeOf(await t.gql(UPDATE_USER, { input: { data: { a: 1 } } }))).toBe('UNAUTHENTICATED');
  });
});

describe('deleteAccount', () => {
  const rowsOf = async (id: string) => ({
    users: await count('select count(*) n from auth.users where id = $1', id),
    profiles: await count('select count(*) n from public.profiles where id = $1', id),
    identities: await count('select count(*) n from auth.identities where user_id = $1', id),
    sessions: await count('select count(*) n from auth.sessions where user_id = $1', id),
    refreshTokens: await count('select count(*) n from auth.refresh_tokens where user_id = $1', id),
  });

  it('refuses a wrong password with INVALID_CREDENTIALS and deletes nothing', async () => {
    const s = await signUp(t);
    const before = await rowsOf(s.userId);
    expect(before).toEqual({ users: 1, profiles: 1, identities: 1, sessions: 1, refreshTokens: 1 });
    const res = await t.gql(DELETE_ACCOUNT, { password: 'not the password' }, s.accessToken);
    expect(codeOf(res)).toBe('INVALID_CREDENTIALS');
    expect(await rowsOf(s.userId)).toEqual(before);
    expect(await whoAmI(s)).toBe(s.userId);
  });

  it('with the right password deletes the user with profile, sessions and tokens', async () => {
    const s = await signUp(t, { username: `del_${randomBytes(4).toString('hex')}` });
    const other = await newSession(s.email);
    const bystander = await signUp(t);
    const res = await t.gql(DELETE_ACCOUNT, { password: PASSWORD }, s.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ deleteAccount: true });
    expect(await whoAmI(s)).toBe('UNAUTHENTICATED');
    expect(await whoAmI(other)).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { token: other.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    expect(await rowsOf(s.userId)).toEqual({ users: 0, profiles: 0, identities: 0, sessions: 0, refreshTokens: 0 });
    expect(codeOf(await signIn(s.email))).toBe('INVALID_CREDENTIALS');
    expect(await whoAmI(bystander)).toBe(bystander.userId);
  });

  it('needs a signed-in caller', async () => {
    expect(codeOf(await t.gql(DELETE_ACCOUNT, { password: PASSWORD }))).toBe('UNAUTHENTICATED');
  });
});
