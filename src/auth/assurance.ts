import { type SQL, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { AuthError } from './errors.js';

/**
 * Who asks for a change of their own account: our user id, the session behind the access
 * token (null for a trusted issuer's token, whose session lives at the issuer) and the aal
 * the token claims.
 */
export type Caller = { id: string; sessionId: string | null; aal: 'aal1' | 'aal2' };

/** What a change of the account must know about its caller, read in one round trip. */
export type CallerState = {
  /** The user has a verified second factor. */
  enrolled: boolean;
  /** The aal of the caller's session row now; null without a live session of ours. */
  sessionAal: 'aal1' | 'aal2' | null;
  /** When the session last authenticated its user (sign-in or factor), seconds since the epoch. */
  authenticatedAt: number | null;
};

/**
 * "MFA on": a verified TOTP factor or a registered passkey. A passkey proves possession with
 * user verification, so it gates what TOTP gates: once a user has one, account changes need
 * an aal2 session (a passkey sign-in, verifyPasskey, or a TOTP or recovery code).
 */
export const enrolledSql = (userId: string): SQL => sql`(
    exists (select 1 from auth.mfa_factors f where f.user_id = ${userId}::uuid and f.status = 'verified')
    or exists (select 1 from auth.passkeys p where p.user_id = ${userId}::uuid))`;

export const aal2Required = (): AuthError =>
  new AuthError('FORBIDDEN', 'This needs a session that passed its second factor (mfaVerify).', {
    reason: 'AAL2_REQUIRED',
  });

export const reauthenticationRequired = (): AuthError =>
  new AuthError(
    'FORBIDDEN',
    'This needs the current password (currentPassword), or a sign-in within the last few minutes.',
    { reason: 'REAUTHENTICATION_REQUIRED' },
  );

export async function callerState(db: Db | Tx, caller: Caller): Promise<CallerState> {
  const [row] = await db.execute<{
    enrolled: boolean;
    session_aal: 'aal1' | 'aal2' | null;
    auth_at: number | null;
  }>(sql`
    select ${enrolledSql(caller.id)} as enrolled,
           s.aal as session_aal,
           (select max((a ->> 'timestamp')::bigint) from jsonb_array_elements(s.amr) a)::float8 as auth_at
    from (select 1) one
    left join auth.sessions s on s.id = ${caller.sessionId}::uuid and s.user_id = ${caller.id}`);
  return {
    enrolled: row?.enrolled ?? false,
    sessionAal: row?.session_aal ?? null,
    authenticatedAt: row?.auth_at ?? null,
  };
}

/**
 * Once a user has a verified factor, whatever changes how the account is held (email,
 * password, identities, factors, deletion) needs an aal2 session: in the token and in the
 * session row. Else a stolen password alone (an aal1 session) could change all of it.
 */
export function requireAal2IfEnrolled(state: CallerState, caller: Caller): void {
  if (state.enrolled && (caller.aal !== 'aal2' || state.sessionAal !== 'aal2')) throw aal2Required();
}

/** The session signed in (or passed a factor) within the last `windowS` seconds. */
export function recentlyAuthenticated(state: Pick<CallerState, 'authenticatedAt'>, windowS: number): boolean {
  return state.authenticatedAt !== null && Date.now() / 1000 - state.authenticatedAt <= windowS;
}
