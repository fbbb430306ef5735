import { eq, sql } from 'drizzle-orm';
import { refreshTokens, sessions, users } from '../../../db/schema.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError, bannedError } from '../../errors.js';
import type { Amr } from '../../grants.js';
import { type AuthPayload, type ClientInfo, isBanned } from '../../model.js';
import { childRefreshToken, hashRefreshToken, looksLikeRefreshToken } from '../../refresh-token.js';

/**
 * Spends a refresh token for a new pair in the same session. A spent token replayed within
 * the reuse interval gets the same child again; after it, the session is ended as stolen.
 */
export async function refresh(
  deps: Pick<AuthDeps, 'db' | 'config' | 'limiter' | 'grants' | 'serverKey'>,
  presented: string,
  client: ClientInfo,
): Promise<AuthPayload> {
  const { db, config, limiter, grants } = deps;
  await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  if (!looksLikeRefreshToken(presented)) throw new AuthError('INVALID_REFRESH_TOKEN');
  const outcome = await db.transaction(async (tx) => {
    // The row lock serialises concurrent refreshes of one token: the first spends it,
    // the others then see it spent and take the reuse-interval branch.
    const [row] = await tx.execute<{
      id: number;
      user_id: string;
      session_id: string;
      spent: boolean;
      within_reuse: boolean;
      expired: boolean;
      session_ended: boolean;
      aal: 'aal1' | 'aal2';
      token_aal: 'aal1' | 'aal2';
      amr: Amr[];
      org_id: string | null;
    }>(sql`
      select rt.id, rt.user_id, rt.session_id, s.aal, rt.aal as token_aal, s.amr, rt.spent_at is not null as spent,
             coalesce(rt.spent_at > now() - make_interval(secs => ${config.refresh.reuseIntervalS}), false) as within_reuse,
             rt.expires_at <= now() as expired,
             coalesce(s.not_after <= now(), false)
               or (${config.sessions.inactivityTimeoutS}::int > 0 and coalesce(s.refreshed_at, s.created_at)
                   < now() - make_interval(secs => ${config.sessions.inactivityTimeoutS})) as session_ended,
             (select m.organization_id from public.memberships m
               where m.organization_id = s.active_organization_id and m.user_id = rt.user_id) as org_id
      from auth.refresh_tokens rt join auth.sessions s on s.id = rt.session_id
      where rt.token_hash = ${hashRefreshToken(presented)}
      for update of rt`);
    if (!row || row.expired || row.session_ended) return { error: new AuthError('INVALID_REFRESH_TOKEN') };
    if (row.spent && !row.within_reuse) {
      // A spent token replayed after the interval: treat as theft, end the session. The
      // audit row goes out with the delete (pipelined): whoever presented it is unknown.
      await Promise.all([
        tx.delete(sessions).where(eq(sessions.id, row.session_id)),
        auditStatement(tx, {
          event: 'session.refresh_token_reused',
          userId: row.user_id,
          actor: { kind: 'system' },
          client,
          detail: { sessionId: row.session_id },
        }),
      ]);
      return { error: new AuthError('INVALID_REFRESH_TOKEN') };
    }
    // Minted before the session was raised (a second factor retires every earlier token,
    // spent ones included): a replay within the reuse interval must not come out aal2.
    // Not theft: it is what the owner's own client does when a refresh races the factor.
    if (row.token_aal !== row.aal) return { error: new AuthError('INVALID_REFRESH_TOKEN') };
    const [user] = await tx.select().from(users).where(eq(users.id, row.user_id));
    if (!user) return { error: new AuthError('INVALID_REFRESH_TOKEN') };
    if (isBanned(user)) return { error: bannedError() };
    // Derived from the presented token and the server key, so a replay within the reuse
    // interval is answered with the same child and no second chain is stored.
    const child = childRefreshToken(deps.serverKey, presented);
    if (!row.spent) {
      await tx.update(refreshTokens).set({ spentAt: sql`now()` }).where(eq(refreshTokens.id, row.id));
      await tx.insert(refreshTokens).values({
        tokenHash: hashRefreshToken(child),
        userId: row.user_id,
        sessionId: row.session_id,
        parentId: row.id,
        aal: row.token_aal,
        expiresAt: sql`now() + make_interval(secs => ${config.refresh.ttlS})`,
      });
      await tx
        .update(sessions)
        .set({ refreshedAt: sql`now()`, updatedAt: sql`now()` })
        .where(eq(sessions.id, row.session_id));
    }
    // The session's aal and amr carry over: a refresh proves nothing new about the user.
    const session = { id: row.session_id, aal: row.aal, amr: row.amr, orgId: row.org_id };
    const audit = byUser('session.refreshed', user.id, client, { sessionId: row.session_id, replayed: row.spent });
    return { granted: await grants.grant(tx, user, session, child, [audit]) };
  });
  // Returned, not thrown, so the revocation above commits.
  if ('error' in outcome) throw outcome.error;
  return grants.issue(outcome.granted);
}
