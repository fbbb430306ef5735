import { and, eq, ne } from 'drizzle-orm';
import { sessions } from '../../../db/schema.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import type { ClientInfo, SignOutScope } from '../../model.js';

/**
 * Ends the caller's session (LOCAL), every other one (OTHERS) or all of them (GLOBAL).
 * A trusted issuer's token has no session of ours (sessionId null): LOCAL then ends
 * nothing (that session lives at the issuer), GLOBAL and OTHERS end all of ours.
 */
export async function signOut(
  deps: Pick<AuthDeps, 'db'>,
  viewer: { id: string; sessionId: string | null },
  scope: SignOutScope,
  client: ClientInfo | null = null,
): Promise<boolean> {
  const mine = eq(sessions.userId, viewer.id);
  if (viewer.sessionId === null && scope === 'LOCAL') return true;
  const where =
    scope === 'GLOBAL' || viewer.sessionId === null
      ? mine
      : scope === 'OTHERS'
        ? and(mine, ne(sessions.id, viewer.sessionId))
        : and(mine, eq(sessions.id, viewer.sessionId));
  // Deleting the session cascades to its refresh tokens; its access tokens fail the
  // liveness check of the next request.
  const audit = byUser('user.signed_out', viewer.id, client, {
    scope: scope.toLowerCase() as 'local' | 'global' | 'others',
    ...(viewer.sessionId === null ? {} : { sessionId: viewer.sessionId }),
  });
  // Pipelined in one transaction: the row goes with the sign-out or not at all.
  await deps.db.transaction((tx) => Promise.all([tx.delete(sessions).where(where), auditStatement(tx, audit)]));
  return true;
}
