import { decodeJwt } from 'jose';
import { expect } from 'vitest';
import { codeOf, ME, PASSWORD, SIGN_IN, type TestGateway } from '../helpers.js';

/**
 * What the files on sessions, account changes, admin fields and bans share. Their gateways
 * run with these rate limits off, so the many sign-ins measure the features, not the limiter.
 */
export const NO_LIMITS = {
  RATE_LIMIT_SIGNUP_IP_MAX: '0',
  RATE_LIMIT_TOKEN_IP_MAX: '0',
  RATE_LIMIT_SIGNIN_EMAIL_MAX: '0',
};

export type Tokens = { accessToken: string; refreshToken: string };

export const SESSIONS = 'query { sessions { id createdAt lastActiveAt userAgent ip current } }';
export const ADMIN_UPDATE = /* GraphQL */ `
  mutation AdminUpdate($id: ID!, $input: AdminUpdateUserInput!) {
    adminUpdateUser(id: $id, input: $input) { id email appMetadata }
  }`;

export const sessionId = (x: { accessToken: string }) => decodeJwt(x.accessToken).session_id as string;

/** Helpers on a file's gateway; `gw()` is read at each call, once beforeAll has started it. */
export function usersOf(gw: () => TestGateway) {
  const signIn = async (mail: string, password = PASSWORD, headers?: Record<string, string>, on = gw()) =>
    on.gql(SIGN_IN, { input: { email: mail, password } }, undefined, headers);

  return {
    signIn,

    /** A new session of an existing user; fails the test when signIn does. */
    async newSession(mail: string, headers?: Record<string, string>): Promise<Tokens> {
      const res = await signIn(mail, PASSWORD, headers);
      expect(res.errors).toBeUndefined();
      return res.data!.signIn as Tokens;
    },

    /** The caller's id from `me`, or the error code the request failed with. */
    async whoAmI(x: { accessToken: string }, on = gw()): Promise<unknown> {
      const res = await on.gql(ME, {}, x.accessToken);
      return res.errors ? codeOf(res) : res.data?.me?.id;
    },

    count: async (sql: string, ...args: unknown[]): Promise<number> => {
      const [row] = await gw().admin.unsafe(sql, args as string[]);
      return Number(row?.n);
    },
  };
}
