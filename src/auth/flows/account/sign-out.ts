import { and, eq, gt, isNull, ne, or, sql } from 'drizzle-orm';
import { refreshTokens, sessions } from '../../../db/schema.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError } from '../../errors.js';
import type { ClientInfo, SignOutScope } from '../../model.js';
import { hashRefreshToken, looksLikeRefreshToken } from '../../refresh-token.js';

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

/**
 * Signs out as the holder of a refresh token rather than of an access token (cookie mode, a
 * browser whose access token has expired): the token's session is the caller's. Only a token
 * refresh would still honour (unexpired; unspent, or spent within the reuse interval) speaks
 * for its session; any other is UNAUTHENTICATED, as signOut without a session always is.
 */
export async function signOutByRefreshToken(
  deps: Pick<AuthDeps, 'db' | 'config' | 'limiter'>,
  presented: string,
  scope: SignOutScope,
  client: ClientInfo,
): Promise<boolean> {
  // A lookup by token is a guessing oracle like refresh's, so it counts against the same limit.
  await deps.limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  if (!looksLikeRefreshToken(presented)) throw new AuthError('UNAUTHENTICATED');
  const reuse = sql`now() - make_interval(secs => ${deps.config.refresh.reuseIntervalS})`;
  const [owner] = await deps.db
    .select({ id: refreshTokens.userId, sessionId: refreshTokens.sessionId })
    .from(refreshTokens)
    .where(
      and(
        eq(refreshTokens.tokenHash, hashRefreshToken(presented)),
        gt(refreshTokens.expiresAt, sql`now()`),
        or(isNull(refreshTokens.spentAt), gt(refreshTokens.spentAt, reuse)),
      ),
    );
  if (!owner) throw new AuthError('UNAUTHENTICATED');
  return signOut(deps, owner, scope, client);
}
