import { type AuditFilter, type AuditPageRow, auditPage } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';

/** The whole audit log for an operator, newest first, filtered by user, events and time. */
export function listAuditLog(
  deps: Pick<AuthDeps, 'db'>,
  filter: AuditFilter,
  first: number,
  after: { createdAt: string; id: string } | null,
): Promise<{ rows: AuditPageRow[]; hasNextPage: boolean }> {
  return auditPage(deps.db, filter, first, after);
}
