import { sql } from 'drizzle-orm';
import { profiles, users } from '../../../db/schema.js';
import { byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError, isUniqueViolation } from '../../errors.js';
import type { AuthPayload, ClientInfo } from '../../model.js';
import { checkMetadata, profileSeed } from '../../validate.js';

/**
 * A real user with no email or password (is_anonymous in its claims), for apps that let
 * people start before signing up; updateUser with an email and a password upgrades it.
 */
export async function signInAnonymously(
  deps: Pick<AuthDeps, 'db' | 'config' | 'limiter' | 'grants'>,
  data: unknown,
  client: ClientInfo,
): Promise<AuthPayload> {
  const { db, config, limiter, grants } = deps;
  if (!config.anonymous.enabled) {
    throw new AuthError('FORBIDDEN', 'Anonymous sign-in is turned off.', { reason: 'ANONYMOUS_DISABLED' });
  }
  await limiter.consume([{ limit: 'signup_ip', subject: client.ip }]);
  const metadata = checkMetadata(data);
  const seed = profileSeed(metadata);
  try {
    const granted = await db.transaction(async (tx) => {
      const [user] = await tx
        .insert(users)
        .values({
          isAnonymous: true,
          rawUserMetaData: metadata,
          rawAppMetaData: { provider: 'anonymous', providers: ['anonymous'] },
          lastSignInAt: sql`now()`,
        })
        .returning();
      if (!user) throw new Error('user insert returned nothing');
      await tx.insert(profiles).values({ id: user.id, ...seed });
      const { session, refreshToken } = await grants.startSession(tx, user, client, 'anonymous');
      const audit = byUser('user.signed_up', user.id, client, { method: 'anonymous', sessionId: session.id });
      return grants.grant(tx, user, session, refreshToken, [audit]);
    });
    return await grants.issue(granted);
  } catch (err) {
    if (isUniqueViolation(err, 'profiles_username_key')) throw new AuthError('USERNAME_TAKEN');
    throw err;
  }
}
