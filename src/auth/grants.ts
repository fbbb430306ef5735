import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Tx } from '../db/client.js';
import type { ProfileRow, UserRow } from '../db/schema.js';
import { profiles, refreshTokens, sessions, users } from '../db/schema.js';
import type { Logger } from '../log.js';
import type { AccessClaims, AccessTokens } from './access-token.js';
import { type AccessTokenHook, createAccessTokenHook } from './access-token-hook.js';
import { enrolledSql } from './assurance.js';
import { type AuditEntry, auditStatement, byUser } from './audit.js';
import { AuthError, bannedError } from './errors.js';
import { type AuthPayload, type ClientInfo, isBanned, toAuthPayload } from './model.js';
import { hashRefreshToken, newRefreshToken } from './refresh-token.js';

export type Amr = { method: string; timestamp: number };

export type Grants = ReturnType<typeof createGrants>;

/** What a session's tokens say about how it was authenticated. */
export type SessionAuth = {
  id: string;
  aal: 'aal1' | 'aal2';
  amr: Amr[];
  /** The session's active organisation, when the user is still a member of it. */
  orgId?: string | null;
};

export type Grant = {
  user: UserRow;
  session: SessionAuth;
  refreshToken: string;
  profile: ProfileRow | null;
  /** The user has a verified second factor this session has not used yet. */
  mfaRequired: boolean;
  /** The access token's claims, built (and passed through the hook) inside the transaction. */
  claims: AccessClaims;
};

/**
 * The end of every way in (password, refresh, provider code): a session row, its first
 * refresh token, and the access token, signed after the transaction committed.
 */
export function createGrants(deps: {
  tokens: AccessTokens;
  config: Pick<Config, 'refresh' | 'sessions' | 'accessTokenHook'>;
  log: Logger;
}) {
  const { tokens, config } = deps;
  const hook: AccessTokenHook | null = config.accessTokenHook
    ? createAccessTokenHook(config.accessTokenHook, deps.log)
    : null;
  /**
   * What the payload needs from the database, read inside the use case's transaction, and
   * the `audit` rows of the grant written there too.
   */
  async function grant(
    tx: Tx,
    user: UserRow,
    session: SessionAuth,
    refreshToken: string,
    audit: AuditEntry[] = [],
  ): Promise<Grant> {
    // The reads and the audit insert go out together: on one connection postgres.js
    // pipelines them, so the audit row costs no round trip of its own.
    const [[profile], [factor]] = await Promise.all([
      tx.select().from(profiles).where(eq(profiles.id, user.id)),
      session.aal === 'aal2' ? [] : tx.execute<{ enrolled: boolean }>(sql`select ${enrolledSql(user.id)} as enrolled`),
      audit.length > 0 ? auditStatement(tx, audit) : null,
    ]);
    const built = tokens.claims({
      userId: user.id,
      email: user.email ?? '',
      sessionId: session.id,
      appMetadata: user.rawAppMetaData,
      userMetadata: user.rawUserMetaData,
      aal: session.aal,
      amr: session.amr,
      isAnonymous: user.isAnonymous,
      orgId: session.orgId ?? null,
    });
    // The hook reads and may fail in this transaction: a failure rolls it back, so no session
    // or refresh token outlives a token that was never issued.
    const claims = hook ? await hook.run(tx, built) : built;
    return { user, session, refreshToken, profile: profile ?? null, mfaRequired: factor?.enrolled === true, claims };
  }

  /** Signs the access token after the transaction committed: no connection waits on signing. */
  async function issue(g: Grant): Promise<AuthPayload> {
    const token = await tokens.signClaims(g.claims);
    return toAuthPayload(token, g.claims, { ...g, aal: g.session.aal });
  }

  /** The first refresh token of a new chain in the session; only its hash is stored. */
  async function newChain(tx: Tx, userId: string, sessionId: string, aal: 'aal1' | 'aal2'): Promise<string> {
    const refreshToken = newRefreshToken();
    await tx.insert(refreshTokens).values({
      tokenHash: hashRefreshToken(refreshToken),
      userId,
      sessionId,
      aal,
      expiresAt: sql`now() + make_interval(secs => ${config.refresh.ttlS})`,
    });
    return refreshToken;
  }

  /**
   * A new session authenticated by `method` (password, oauth, otp, magiclink…): aal1, but
   * aal2 for a passkey, which is possession and user verification in one (docs/passkeys.md).
   */
  async function startSession(
    tx: Tx,
    user: UserRow,
    client: ClientInfo,
    method: string,
    aal: 'aal1' | 'aal2' = 'aal1',
  ): Promise<{ session: SessionAuth; refreshToken: string }> {
    const amr: Amr[] = [{ method, timestamp: Math.floor(Date.now() / 1000) }];
    const [session] = await tx
      .insert(sessions)
      .values({
        userId: user.id,
        aal,
        amr,
        userAgent: client.userAgent?.slice(0, 512) ?? null,
        ip: client.ip,
        notAfter: config.sessions.timeboxS > 0 ? sql`now() + make_interval(secs => ${config.sessions.timeboxS})` : null,
      })
      .returning({ id: sessions.id });
    if (!session) throw new Error('session insert returned nothing');
    const refreshToken = await newChain(tx, user.id, session.id, aal);
    return { session: { id: session.id, aal, amr }, refreshToken };
  }

  /**
   * Raises an existing session to aal2 after a second factor (`method`: totp, recovery_code).
   * The session's amr keeps one entry per method, the latest. A privilege change gets a fresh
   * refresh token, and the session's live ones minted before are dropped, so only the holder
   * of the new pair carries the session on; spent ones stay, so a replayed old token still
   * reads as theft, and refresh refuses any token minted below the session's level. The tokens go first: a concurrent refresh locks its token, then the session.
   */
  async function elevateSession(
    tx: Tx,
    session: { id: string; userId: string; amr: Amr[] },
    method: string,
  ): Promise<{ session: SessionAuth; refreshToken: string }> {
    const amr: Amr[] = [
      ...session.amr.filter((a) => a.method !== method),
      { method, timestamp: Math.floor(Date.now() / 1000) },
    ];
    await tx.delete(refreshTokens).where(and(eq(refreshTokens.sessionId, session.id), isNull(refreshTokens.spentAt)));
    const raised = await tx
      .update(sessions)
      .set({ aal: 'aal2', amr, updatedAt: sql`now()` })
      .where(eq(sessions.id, session.id))
      .returning({
        id: sessions.id,
        // The active organisation carries over to the aal2 token, while the user is a member.
        orgId: sql<string | null>`(select m.organization_id from public.memberships m
          where m.organization_id = ${sessions.activeOrganizationId} and m.user_id = ${sessions.userId})`,
      });
    // Signed out meanwhile: nothing left to raise.
    if (!raised[0]) throw new AuthError('UNAUTHENTICATED');
    const refreshToken = await newChain(tx, session.userId, session.id, 'aal2');
    return { session: { id: session.id, aal: 'aal2', amr, orgId: raised[0].orgId }, refreshToken };
  }

  /**
   * The end of every sign-in: stamps last_sign_in_at, refuses a banned user, starts a
   * session authenticated by `method` and reads what the payload needs. `missing` is the
   * error when the user is gone (deleted meanwhile). The audit log gets user.signed_in,
   * after the `also` entries of the flow (user.password_reset, identity.linked…).
   */
  async function finishSignIn(
    tx: Tx,
    userId: string,
    client: ClientInfo,
    method: string,
    missing: () => AuthError,
    also: AuditEntry[] = [],
    aal: 'aal1' | 'aal2' = 'aal1',
  ): Promise<Grant> {
    const [user] = await tx.update(users).set({ lastSignInAt: sql`now()` }).where(eq(users.id, userId)).returning();
    if (!user) throw missing();
    if (isBanned(user)) throw bannedError();
    const { session, refreshToken } = await startSession(tx, user, client, method, aal);
    return grant(tx, user, session, refreshToken, [
      ...also,
      byUser('user.signed_in', user.id, client, { method, sessionId: session.id }),
    ]);
  }

  return { grant, issue, startSession, elevateSession, finishSignIn };
}
