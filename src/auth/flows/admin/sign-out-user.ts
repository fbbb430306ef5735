import { eq } from 'drizzle-orm';
import { sessions } from '../../../db/schema.js';
import { auditStatement, byService } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import type { ClientInfo } from '../../model.js';

/** Ends every session of a user (their refresh tokens go with them). */
export async function signOutUser(
  deps: Pick<AuthDeps, 'db'>,
  userId: string,
  client: ClientInfo | null = null,
): Promise<boolean> {
  await deps.db.transaction((tx) =>
    Promise.all([
      tx.delete(sessions).where(eq(sessions.userId, userId)),
      auditStatement(tx, byService('admin.user_signed_out', userId, client, { scope: 'global' })),
    ]),
  );
  return true;
}
