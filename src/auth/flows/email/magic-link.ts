import { timingSafeEqual } from 'node:crypto';
import { and, desc, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Tx } from '../../../db/client.js';
import { oneTimeTokens, profiles, users } from '../../../db/schema.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { isUniqueViolation } from '../../errors.js';
import type { Grant } from '../../grants.js';
import { type AuthPayload, type ClientInfo, isBanned } from '../../model.js';
import { consumeInOrder, emailSendChecks, signInChecks } from '../../rate-limit.js';
import { normalizeEmail } from '../../validate.js';
import { proveAddress } from '../address-proof.js';
import { ensureEmailIdentity, holder } from './identity.js';
import { codeHash, consume, invalidCode, invalidToken, mailLater } from './tokens.js';

/**
 * Mails a sign-in link and a six-digit code. With `createUser` an unknown address gets
 * an account (no password) when it first signs in; the answer is true either way.
 */
export async function signInWithOtp(
  deps: AuthDeps,
  rawEmail: string,
  createUser: boolean,
  client: ClientInfo,
): Promise<boolean> {
  const email = normalizeEmail(rawEmail);
  await consumeInOrder(deps.limiter, emailSendChecks(email, client.ip));
  const user = await holder(deps, email);
  // No account and createUser: the link is pending, and the account is made only when
  // it is used, so nobody can occupy an address by asking for mail to it.
  if (user && !isBanned(user)) mailLater(deps, 'signInWithOtp', user, 'magiclink', email, true);
  else if (!user && createUser) mailLater(deps, 'signInWithOtp', null, 'magiclink', email, true);
  return true;
}

/** The link of a magic-link mail: proves the address and signs in (making the account of a pending link). */
export async function verifyMagicLink(deps: AuthDeps, token: string, client: ClientInfo): Promise<AuthPayload> {
  const { db, grants, limiter } = deps;
  await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  const row = await consume(deps, token, ['magiclink']);
  try {
    return grants.issue(
      await db.transaction(async (tx) => signInProven(deps, tx, await accountFor(tx, row, client), client, 'otp')),
    );
  } catch (err) {
    // Someone made the account in the same instant: the link is spent, ask again.
    if (isUniqueViolation(err, 'users_email_key')) throw invalidToken();
    throw err;
  }
}

/**
 * The six-digit code of a magic-link mail. Wrong codes count against the code (it dies
 * after EMAIL_OTP_MAX_ATTEMPTS) and against the sign-in limits of the address.
 */
export async function verifyOtp(
  deps: AuthDeps,
  rawEmail: string,
  code: string,
  client: ClientInfo,
): Promise<AuthPayload> {
  const { db, grants, limiter, config } = deps;
  const email = normalizeEmail(rawEmail);
  await consumeInOrder(limiter, signInChecks(email, client.ip));
  if (!/^[0-9]{6}$/.test(code)) throw invalidCode();
  const outcome = await db.transaction(async (tx) => {
    // The user by a subquery, not a join: Postgres takes FOR UPDATE OF only with an
    // unqualified name, and a plain FOR UPDATE over a join would lock the user row too.
    // A pending link (no account yet) is found by its address.
    const [token] = await tx
      .select()
      .from(oneTimeTokens)
      .where(
        and(
          eq(oneTimeTokens.email, email),
          or(
            isNull(oneTimeTokens.userId),
            inArray(oneTimeTokens.userId, tx.select({ id: users.id }).from(users).where(eq(users.email, email))),
          ),
          eq(oneTimeTokens.kind, 'magiclink'),
          gt(oneTimeTokens.expiresAt, sql`now()`),
        ),
      )
      .orderBy(desc(oneTimeTokens.createdAt))
      .limit(1)
      .for('update');
    if (!token?.codeHash) return { error: invalidCode() };
    // Compared in constant time, so the time of a wrong guess tells nothing of the code.
    const expected = Buffer.from(token.codeHash, 'hex');
    const given = Buffer.from(codeHash(deps.serverKey, token.userId ?? token.email, code), 'hex');
    if (!timingSafeEqual(expected, given)) {
      // Recorded with the attempt count, in its transaction (pipelined with it).
      const failed = auditStatement(tx, {
        event: 'user.sign_in_failed',
        userId: token.userId,
        actor: { kind: 'anonymous' },
        client,
        detail: { method: 'otp', reason: 'WRONG_CODE' },
      });
      await Promise.all([
        token.attempts + 1 >= config.mail.otpMaxAttempts
          ? tx.delete(oneTimeTokens).where(eq(oneTimeTokens.id, token.id))
          : tx
              .update(oneTimeTokens)
              .set({ attempts: sql`${oneTimeTokens.attempts} + 1` })
              .where(eq(oneTimeTokens.id, token.id)),
        failed,
      ]);
      return { error: invalidCode() };
    }
    await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.id, token.id));
    return { granted: await signInProven(deps, tx, await accountFor(tx, token, client), client, 'otp') };
  });
  // Returned, not thrown, so the attempt count commits.
  if ('error' in outcome) throw outcome.error;
  return grants.issue(outcome.granted);
}

/**
 * The account of a used link or code: its own, or for a pending magic link the account of
 * that address, made now (the mail reached its owner) unless someone made it meanwhile.
 */
export async function accountFor(
  tx: Tx,
  row: { userId: string | null; email: string },
  client: ClientInfo,
): Promise<string> {
  if (row.userId !== null) return row.userId;
  const [existing] = await tx.select({ id: users.id }).from(users).where(eq(users.email, row.email));
  if (existing) return existing.id;
  const [created] = await tx
    .insert(users)
    .values({ email: row.email, rawAppMetaData: { provider: 'email', providers: ['email'] } })
    .returning();
  if (!created) throw new Error('user insert returned nothing');
  await ensureEmailIdentity(tx, created, row.email);
  await Promise.all([
    tx.insert(profiles).values({ id: created.id }),
    auditStatement(tx, byUser('user.signed_up', created.id, client, { method: 'otp' })),
  ]);
  return created.id;
}

/**
 * The mail reached the owner of the account's address: that proves it (and, for an
 * address never proven before, leaves the account to the prover alone), then a session.
 */
async function signInProven(
  deps: Pick<AuthDeps, 'grants'>,
  tx: Tx,
  userId: string,
  client: ClientInfo,
  method: string,
): Promise<Grant> {
  await proveAddress(tx, userId);
  return deps.grants.finishSignIn(tx, userId, client, method, invalidToken);
}
