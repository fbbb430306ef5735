import { eq, sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Tx } from '../db/client.js';
import type { ProfileRow, UserRow } from '../db/schema.js';
import { profiles, refreshTokens, sessions } from '../db/schema.js';
import type { AccessClaims, AccessTokens } from './access-token.js';
import { hashRefreshToken, newRefreshToken } from './refresh-token.js';
import { type AuthPayload, type ClientInfo, toUserView } from './service.js';

export type Grant = {
  user: UserRow;
  sessionId: string;
  refreshToken: string;
  method: string;
  profile: ProfileRow | null;
};

/**
 * The end of every way in (password, refresh, provider code): a session row, its first
 * refresh token, and the access token, signed after the transaction committed.
 */
export function createGrants(deps: { tokens: AccessTokens; config: Pick<Config, 'refresh' | 'sessions'> }) {
  const { tokens, config } = deps;
  /** What the payload needs from the database, read inside the use case's transaction. */
  async function grant(tx: Tx, user: UserRow, sessionId: string, refreshToken: string, method: string): Promise<Grant> {
    const [profile] = await tx.select().from(profiles).where(eq(profiles.id, user.id));
    return { user, sessionId, refreshToken, method, profile: profile ?? null };
  }

  /** Signs the access token after the transaction committed: no connection waits on signing. */
  async function issue(g: Grant): Promise<AuthPayload> {
    const signed = await tokens.sign({
      userId: g.user.id,
      email: g.user.email ?? '',
      sessionId: g.sessionId,
      appMetadata: g.user.rawAppMetaData,
      userMetadata: g.user.rawUserMetaData,
      amr: [{ method: g.method, timestamp: Math.floor(Date.now() / 1000) }],
    });
    return payload(signed.token, signed.claims, g.refreshToken, g.user, g.profile);
  }

  async function startSession(
    tx: Tx,
    user: UserRow,
    client: ClientInfo,
  ): Promise<{ sessionId: string; refreshToken: string }> {
    const [session] = await tx
      .insert(sessions)
      .values({
        userId: user.id,
        userAgent: client.userAgent?.slice(0, 512) ?? null,
        ip: client.ip,
        notAfter: config.sessions.timeboxS > 0 ? sql`now() + make_interval(secs => ${config.sessions.timeboxS})` : null,
      })
      .returning({ id: sessions.id });
    if (!session) throw new Error('session insert returned nothing');
    const refreshToken = newRefreshToken();
    await tx.insert(refreshTokens).values({
      tokenHash: hashRefreshToken(refreshToken),
      userId: user.id,
      sessionId: session.id,
      expiresAt: sql`now() + make_interval(secs => ${config.refresh.ttlS})`,
    });
    return { sessionId: session.id, refreshToken };
  }

  return { grant, issue, startSession };
}

function payload(
  accessToken: string,
  claims: AccessClaims,
  refreshToken: string,
  user: UserRow,
  profile: ProfileRow | null,
): AuthPayload {
  return {
    accessToken,
    refreshToken,
    tokenType: 'bearer',
    expiresIn: claims.exp - claims.iat,
    expiresAt: new Date(claims.exp * 1000),
    user: { ...toUserView(user), preloadedProfile: profile },
  };
}
