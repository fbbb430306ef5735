import { type AuditPageRow, auditPage } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';

/** One of a user's own security events, as they may see it. */
export type SecurityEventView = {
  id: string;
  event: string;
  actorKind: string;
  ip: string | null;
  userAgent: string | null;
  detail: Record<string, unknown> | null;
  createdAt: string;
};

/**
 * The caller's own events, newest first: every row whose target is them. Where someone else
 * acted (an operator, a failed attempt by whoever, the gateway ending a stolen session) they
 * see what happened and the kind of actor, never that actor's id, address, agent or detail.
 */
export async function securityEvents(
  deps: Pick<AuthDeps, 'db'>,
  userId: string,
  first: number,
  after: { createdAt: string; id: string } | null,
): Promise<{ rows: SecurityEventView[]; hasNextPage: boolean }> {
  const page = await auditPage(deps.db, { userId }, first, after);
  return { rows: page.rows.map((r) => view(r, userId)), hasNextPage: page.hasNextPage };
}

function view(row: AuditPageRow, userId: string): SecurityEventView {
  const own = row.actorKind === 'user' && row.actorId === userId;
  return {
    id: row.id,
    event: row.event,
    actorKind: row.actorKind,
    ip: own ? row.ip : null,
    userAgent: own ? row.userAgent : null,
    detail: own ? row.detail : null,
    createdAt: row.createdAt,
  };
}
