import { eq, sql } from 'drizzle-orm';
import { identities, profiles, users } from '../../../db/schema.js';
import { auditStatement, byUser } from '../../audit.js';
import { AuthError, isUniqueViolation } from '../../errors.js';
import { type AuthPayload, type ClientInfo, type SignUpResult, toUserView } from '../../model.js';
import { checkMetadata, checkPassword, normalizeEmail, profileSeed } from '../../validate.js';
import type { AccountDeps } from './deps.js';

type SignUpInput = { email: string; password: string; data?: unknown };

/**
 * The contract's signUp always answers with tokens, so with REQUIRE_EMAIL_CONFIRMATION it
 * refuses (creating nothing) and points to register, which can answer without them.
 */
export async function signUp(deps: AccountDeps, input: SignUpInput, client: ClientInfo): Promise<AuthPayload> {
  if (deps.email.requireConfirmation) {
    throw new AuthError('FORBIDDEN', 'This server confirms emails before sign-in: use register.', {
      reason: 'EMAIL_CONFIRMATION_REQUIRED',
    });
  }
  const { session } = await register(deps, input, client);
  if (!session) throw new Error('register returned no session without confirmation');
  return session;
}

/**
 * Sign-up that also works when the email must be confirmed first. Then the address stays
 * pending until its link is used: it is in no token, and it holds nothing, so a
 * registration by someone who does not own the address never blocks the owner's own.
 */
export async function register(deps: AccountDeps, input: SignUpInput, client: ClientInfo): Promise<SignUpResult> {
  const { db, passwords, limiter, grants } = deps;
  await limiter.consume([{ limit: 'signup_ip', subject: client.ip }]);
  const email = normalizeEmail(input.email);
  checkPassword(input.password, email ?? '');
  const metadata = checkMetadata(input.data);
  const seed = profileSeed(metadata);
  const confirm = deps.email.requireConfirmation;
  // Pending registrations do not hold the address, so the unique index cannot answer.
  if (confirm && (await db.select({ id: users.id }).from(users).where(eq(users.email, email))).length > 0) {
    throw new AuthError('EMAIL_TAKEN');
  }
  const hash = await passwords.hash(input.password);
  try {
    const outcome = await db.transaction(async (tx) => {
      const [user] = await tx
        .insert(users)
        .values({
          email: confirm ? null : email,
          pendingEmail: confirm ? email : null,
          encryptedPassword: hash,
          rawUserMetaData: metadata,
          rawAppMetaData: { provider: 'email', providers: ['email'] },
          lastSignInAt: confirm ? null : sql`now()`,
        })
        .returning();
      if (!user) throw new Error('user insert returned nothing');
      await tx.insert(identities).values({
        userId: user.id,
        provider: 'email',
        issuer: 'email',
        providerId: user.id,
        identityData: { sub: user.id, email },
        lastSignInAt: sql`now()`,
      });
      const signedUp = byUser('user.signed_up', user.id, client, { method: 'password' });
      if (confirm) {
        await Promise.all([tx.insert(profiles).values({ id: user.id, ...seed }), auditStatement(tx, signedUp)]);
        // No session until the mailed link comes back: the payload carries no tokens.
        const secret = await deps.email.issueToken(tx, user, 'confirmation', email);
        return { waiting: { user, secret } };
      }
      await tx.insert(profiles).values({ id: user.id, ...seed });
      const { session, refreshToken } = await grants.startSession(tx, user, client, 'password');
      const audit = { ...signedUp, detail: { method: 'password', sessionId: session.id } };
      return { granted: await grants.grant(tx, user, session, refreshToken, [audit]) };
    });
    if (outcome.waiting) {
      const { user, secret } = outcome.waiting;
      deps.email.mail('confirmation', email, secret);
      return { user: toUserView(user), session: null, confirmationRequired: true };
    }
    const session = await grants.issue(outcome.granted);
    return { user: session.user, session, confirmationRequired: false };
  } catch (err) {
    if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
    if (isUniqueViolation(err, 'profiles_username_key')) throw new AuthError('USERNAME_TAKEN');
    throw err;
  }
}
