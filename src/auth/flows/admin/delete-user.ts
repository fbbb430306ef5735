import { eq } from 'drizzle-orm';
import { users } from '../../../db/schema.js';
import { auditStatement, byService } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import type { ClientInfo } from '../../model.js';

/** Deletes any user (their rows go with them, the audit log's stay); false when there was none. */
export async function deleteUser(
  deps: Pick<AuthDeps, 'db'>,
  id: string,
  client: ClientInfo | null = null,
): Promise<boolean> {
  return deps.db.transaction(async (tx) => {
    const gone = await tx.delete(users).where(eq(users.id, id)).returning({ id: users.id });
    if (gone.length === 0) return false;
    await auditStatement(tx, byService('user.deleted', id, client));
    return true;
  });
}
