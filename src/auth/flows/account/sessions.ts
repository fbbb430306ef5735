import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import { sessions } from '../../../db/schema.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import type { ClientInfo, SessionView } from '../../model.js';

/** The user's live sessions, newest first. */
export async function listSessions(
  deps: Pick<AuthDeps, 'db'>,
  viewer: { id: string; sessionId: string | null },
): Promise<SessionView[]> {
  const rows = await deps.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, viewer.id), or(isNull(sessions.notAfter), gt(sessions.notAfter, sql`now()`))))
    .orderBy(desc(sessions.createdAt));
  return rows.map((r) => ({
    id: r.id,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    lastActiveAt: r.refreshedAt ?? r.createdAt,
    userAgent: r.userAgent,
    ip: r.ip,
    current: r.id === viewer.sessionId,
  }));
}

/** Ends one of the caller's own sessions; false when it is not theirs or not there. */
export async function revokeSession(
  deps: Pick<AuthDeps, 'db'>,
  userId: string,
  sessionId: string,
  client: ClientInfo | null = null,
): Promise<boolean> {
  return deps.db.transaction(async (tx) => {
    const gone = await tx
      .delete(sessions)
      .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)))
      .returning({ id: sessions.id });
    if (gone.length === 0) return false;
    await auditStatement(tx, byUser('session.revoked', userId, client, { sessionId }));
    return true;
  });
}
