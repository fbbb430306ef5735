import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, signUp, startGateway, type TestGateway } from '../helpers.js';
import { ADMIN_UPDATE, NO_LIMITS, usersOf } from './support.js';

/** Bans set by the service role (adminUpdateUser bannedUntil): live tokens end, signIn is refused. */

let t: TestGateway;
let service: string;

beforeAll(async () => {
  t = await startGateway(NO_LIMITS);
  service = await t.gateway.tokens.signServiceRole(600);
});
afterAll(async () => {
  await t?.close();
});

const { signIn, whoAmI } = usersOf(() => t);

describe('bans', () => {
  it("ends the user's live tokens and refuses signIn with FORBIDDEN until lifted", async () => {
    const s = await signUp(t);
    const until = new Date(Date.now() + 3600_000).toISOString();
    const ban = await t.gql(ADMIN_UPDATE, { id: s.userId, input: { bannedUntil: until } }, service);
    expect(ban.errors).toBeUndefined();
    expect(ban.data!.adminUpdateUser.id).toBe(s.userId);

    expect(await whoAmI(s)).toBe('UNAUTHENTICATED');
    expect(codeOf(await signIn(s.email))).toBe('FORBIDDEN');
    expect(codeOf(await signIn(s.email, 'not the password'))).toBe('INVALID_CREDENTIALS');

    const lift = await t.gql(ADMIN_UPDATE, { id: s.userId, input: { bannedUntil: null } }, service);
    expect(lift.errors).toBeUndefined();
    const again = await signIn(s.email);
    expect(again.errors).toBeUndefined();
    expect(await whoAmI(again.data!.signIn)).toBe(s.userId);
  });

  it('a ban that has already run out does not hold', async () => {
    const s = await signUp(t);
    const past = new Date(Date.now() - 60_000).toISOString();
    expect((await t.gql(ADMIN_UPDATE, { id: s.userId, input: { bannedUntil: past } }, service)).errors).toBeUndefined();
    expect(await whoAmI(s)).toBe(s.userId);
    expect((await signIn(s.email)).errors).toBeUndefined();
  });
});
