import { eq } from 'drizzle-orm';
import { users } from '../../../db/schema.js';
import type { Caller } from '../../assurance.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError } from '../../errors.js';
import type { ClientInfo } from '../../model.js';
import { checkCurrentPassword, requireAal2ForCaller } from './reauthenticate.js';

/**
 * Deletes the caller after checking the password (aal2 with a verified factor); profile,
 * sessions and tokens cascade. Guesses count per user and client, like sign-ins.
 */
export async function deleteAccount(
  deps: Pick<AuthDeps, 'db' | 'limiter' | 'passwords'>,
  caller: Caller,
  password: string,
  client: ClientInfo,
): Promise<boolean> {
  const { db } = deps;
  const [user] = await db.select().from(users).where(eq(users.id, caller.id));
  if (!user) throw new AuthError('UNAUTHENTICATED');
  await requireAal2ForCaller(deps, caller);
  await checkCurrentPassword(deps, user, password, client).catch((err: unknown) => {
    throw err instanceof AuthError && err.code === 'INVALID_CREDENTIALS' ? new AuthError('INVALID_CREDENTIALS') : err;
  });
  // The audit row has no foreign key to the user: it outlives the account, until retention.
  await db.transaction((tx) =>
    Promise.all([
      tx.delete(users).where(eq(users.id, caller.id)),
      auditStatement(tx, byUser('user.deleted', caller.id, client)),
    ]),
  );
  return true;
}
