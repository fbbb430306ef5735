import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db, Tx } from '../db/client.js';
import { identities, type OneTimeKind, oneTimeTokens, profiles, sessions, type UserRow, users } from '../db/schema.js';
import { type Mailer, mailLink } from '../mail/mailer.js';
import { AuthError, isUniqueViolation } from './errors.js';
import type { createGrants } from './grants.js';
import { syncProviders } from './identities.js';
import type { PasswordHasher } from './password.js';
import type { RateLimiter } from './rate-limit.js';
import { hashSecret, looksLikeSecret, randomSecret } from './secret.js';
import type { AuthPayload, ClientInfo } from './service.js';
import { checkPassword, normalizeEmail } from './validate.js';

export type EmailFlows = ReturnType<typeof createEmailFlows>;

const invalidToken = () =>
  new AuthError('BAD_USER_INPUT', 'The link is invalid, expired or already used.', { reason: 'INVALID_TOKEN' });
const invalidCode = () => new AuthError('INVALID_CREDENTIALS', 'Invalid email or code.');

/**
 * Everything that proves an email address by mail: sign-up confirmation, password
 * recovery, magic link and six-digit code, email change. Each mailed secret is random,
 * single use (deleted as it is used), stored as a hash, expires after EMAIL_TOKEN_TTL_S and
 * replaces the previous one of its kind; sending is rate-limited per address and per client.
 */
export function createEmailFlows(deps: {
  db: Db;
  grants: ReturnType<typeof createGrants>;
  limiter: RateLimiter;
  passwords: PasswordHasher;
  mailer: Mailer;
  /** Keys the HMAC of six-digit codes. */
  secretKey: string;
  config: Pick<Config, 'mail'>;
}) {
  const { db, grants, limiter, passwords, mailer, config } = deps;
  const codeHash = (userId: string, code: string) =>
    createHmac('sha256', deps.secretKey).update(`email-otp:${userId}:${code}`).digest('hex');
  const minutes = Math.max(1, Math.round(config.mail.tokenTtlS / 60));

  /** A fresh token (and code) of `kind` for the user, replacing any earlier one. */
  /** `user` null: a magic link for an address without an account yet (see signInWithOtp). */
  async function issueToken(
    tx: Tx | Db,
    user: { id: string } | null,
    kind: OneTimeKind,
    email: string,
    withCode = false,
  ): Promise<{ token: string; code?: string }> {
    const token = randomSecret();
    const code = withCode ? String(randomInt(0, 1_000_000)).padStart(6, '0') : undefined;
    const values = {
      userId: user?.id ?? null,
      kind,
      tokenHash: hashSecret(token),
      codeHash: code ? codeHash(user?.id ?? email, code) : null,
      email,
      attempts: 0,
      expiresAt: sql`now() + make_interval(secs => ${config.mail.tokenTtlS})`,
      createdAt: sql`now()`,
    };
    await tx
      .insert(oneTimeTokens)
      .values(values)
      .onConflictDoUpdate(
        user
          ? { target: [oneTimeTokens.userId, oneTimeTokens.kind], set: values }
          : {
              target: [oneTimeTokens.email, oneTimeTokens.kind],
              targetWhere: sql`${oneTimeTokens.userId} is null`,
              set: values,
            },
      );
    return { token, code };
  }

  function mail(kind: OneTimeKind, to: string, secret: { token: string; code?: string }): void {
    mailer.send(kind, to, { link: mailLink(config.mail.linkUrl, secret.token, kind), code: secret.code, minutes });
  }

  /** Spends a mailed token: gone whatever happens next, so a link works exactly once. */
  async function consume(token: string, kinds: OneTimeKind[]) {
    if (!looksLikeSecret(token)) throw invalidToken();
    const [row] = await db
      .delete(oneTimeTokens)
      .where(
        and(
          eq(oneTimeTokens.tokenHash, hashSecret(token)),
          inArray(oneTimeTokens.kind, kinds),
          gt(oneTimeTokens.expiresAt, sql`now()`),
        ),
      )
      .returning();
    if (!row) throw invalidToken();
    return row;
  }

  const banned = (u: UserRow) => u.bannedUntil !== null && u.bannedUntil > new Date();

  /**
   * The account of a used link or code: its own, or for a pending magic link the account of
   * that address, made now (the mail reached its owner) unless someone made it meanwhile.
   */
  async function accountFor(tx: Tx, row: { userId: string | null; email: string }): Promise<string> {
    if (row.userId !== null) return row.userId;
    const [existing] = await tx.select({ id: users.id }).from(users).where(eq(users.email, row.email));
    if (existing) return existing.id;
    const [created] = await tx
      .insert(users)
      .values({ email: row.email, rawAppMetaData: { provider: 'email', providers: ['email'] } })
      .returning();
    if (!created) throw new Error('user insert returned nothing');
    await ensureEmailIdentity(tx, created, row.email);
    await tx.insert(profiles).values({ id: created.id });
    return created.id;
  }

  /** Confirms the email (the mail reached its owner) and starts a session. */
  async function signInConfirmed(tx: Tx, userId: string, client: ClientInfo, method: string) {
    const [user] = await tx
      .update(users)
      .set({ emailConfirmedAt: sql`coalesce(${users.emailConfirmedAt}, now())`, lastSignInAt: sql`now()` })
      .where(eq(users.id, userId))
      .returning();
    if (!user) throw invalidToken();
    if (banned(user)) throw new AuthError('FORBIDDEN', 'This account is banned.');
    const { session, refreshToken } = await grants.startSession(tx, user, client, method);
    return grants.grant(tx, user, session, refreshToken);
  }

  const sendLimits = (email: string, client: ClientInfo) =>
    limiter.consume([
      { limit: 'email_send', subject: email },
      { limit: 'token_ip', subject: client.ip },
    ]);

  return {
    requireConfirmation: config.mail.requireConfirmation,
    issueToken,
    mail,

    /** Mails a new confirmation link; true whether or not the address has an unconfirmed account. */
    async resendConfirmation(rawEmail: string, client: ClientInfo): Promise<boolean> {
      const email = normalizeEmail(rawEmail);
      await sendLimits(email, client);
      const [user] = await db.select().from(users).where(eq(users.email, email));
      if (user && user.emailConfirmedAt === null)
        mail('confirmation', email, await issueToken(db, user, 'confirmation', email));
      return true;
    },

    /** A confirmation or email-change link: confirms the address and signs the user in. */
    async verifyEmail(token: string, client: ClientInfo): Promise<AuthPayload> {
      await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
      const row = await consume(token, ['confirmation', 'email_change']);
      const userId = row.userId;
      if (userId === null) throw invalidToken(); // only magic links are issued without an account
      try {
        const granted = await db.transaction(async (tx) => {
          if (row.kind === 'email_change') {
            await tx.update(users).set({ email: row.email }).where(eq(users.id, userId));
            await tx
              .update(identities)
              .set({
                identityData: sql`${identities.identityData} || ${JSON.stringify({ email: row.email })}::jsonb`,
                updatedAt: sql`now()`,
              })
              .where(and(eq(identities.userId, userId), eq(identities.provider, 'email')));
            // Links and codes mailed to the old address stop working with it.
            await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
          }
          return signInConfirmed(tx, userId, client, 'otp');
        });
        return grants.issue(granted);
      } catch (err) {
        if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
        throw err;
      }
    },

    /** Mails a recovery link if the address has an account; answers the same either way. */
    async requestPasswordReset(rawEmail: string, client: ClientInfo): Promise<boolean> {
      const email = normalizeEmail(rawEmail);
      await sendLimits(email, client);
      const [user] = await db.select().from(users).where(eq(users.email, email));
      if (user && !banned(user)) mail('recovery', email, await issueToken(db, user, 'recovery', email));
      return true;
    },

    /**
     * Sets a new password from a recovery link: every session ends, the link is spent, and
     * a new session starts. A user who had only a provider gains password sign-in.
     */
    async resetPassword(token: string, newPassword: string, client: ClientInfo): Promise<AuthPayload> {
      await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
      // Checked against the policy before the token is spent, so a weak choice can be retried;
      // and only for a live token, so a made-up one never costs a password hash.
      const [owner] = looksLikeSecret(token)
        ? await db
            .select({ email: oneTimeTokens.email })
            .from(oneTimeTokens)
            .where(
              and(
                eq(oneTimeTokens.tokenHash, hashSecret(token)),
                eq(oneTimeTokens.kind, 'recovery'),
                gt(oneTimeTokens.expiresAt, sql`now()`),
              ),
            )
        : [];
      if (!owner) throw invalidToken();
      checkPassword(newPassword, owner.email);
      const hash = await passwords.hash(newPassword);
      const row = await consume(token, ['recovery']);
      const userId = row.userId;
      if (userId === null) throw invalidToken(); // only magic links are issued without an account
      const granted = await db.transaction(async (tx) => {
        const [user] = await tx
          .update(users)
          .set({ encryptedPassword: hash, isAnonymous: false })
          .where(eq(users.id, userId))
          .returning();
        if (!user) throw invalidToken();
        await tx.delete(sessions).where(eq(sessions.userId, user.id));
        await ensureEmailIdentity(tx, user, row.email);
        return signInConfirmed(tx, user.id, client, 'recovery');
      });
      return grants.issue(granted);
    },

    /**
     * Mails a sign-in link and a six-digit code. With `createUser` an unknown address gets
     * an account (no password) when it first signs in; the answer is true either way.
     */
    async signInWithOtp(rawEmail: string, createUser: boolean, client: ClientInfo): Promise<boolean> {
      const email = normalizeEmail(rawEmail);
      await sendLimits(email, client);
      const [user] = await db.select().from(users).where(eq(users.email, email));
      // No account and createUser: the link is pending, and the account is made only when
      // it is used, so nobody can occupy an address by asking for mail to it.
      if (user && !banned(user)) mail('magiclink', email, await issueToken(db, user, 'magiclink', email, true));
      else if (!user && createUser) mail('magiclink', email, await issueToken(db, null, 'magiclink', email, true));
      return true;
    },

    async verifyMagicLink(token: string, client: ClientInfo): Promise<AuthPayload> {
      await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
      const row = await consume(token, ['magiclink']);
      try {
        return grants.issue(
          await db.transaction(async (tx) => signInConfirmed(tx, await accountFor(tx, row), client, 'otp')),
        );
      } catch (err) {
        // Someone made the account in the same instant: the link is spent, ask again.
        if (isUniqueViolation(err, 'users_email_key')) throw invalidToken();
        throw err;
      }
    },

    /**
     * The six-digit code of a magic-link mail. Wrong codes count against the code (it dies
     * after EMAIL_OTP_MAX_ATTEMPTS) and against the per-email sign-in limit.
     */
    async verifyOtp(rawEmail: string, code: string, client: ClientInfo): Promise<AuthPayload> {
      const email = normalizeEmail(rawEmail);
      await limiter.consume([
        { limit: 'signin_email', subject: email },
        { limit: 'token_ip', subject: client.ip },
      ]);
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
        const expected = Buffer.from(token.codeHash, 'hex');
        const given = Buffer.from(codeHash(token.userId ?? token.email, code), 'hex');
        if (!timingSafeEqual(expected, given)) {
          if (token.attempts + 1 >= config.mail.otpMaxAttempts) {
            await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.id, token.id));
          } else {
            await tx
              .update(oneTimeTokens)
              .set({ attempts: sql`${oneTimeTokens.attempts} + 1` })
              .where(eq(oneTimeTokens.id, token.id));
          }
          return { error: invalidCode() };
        }
        await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.id, token.id));
        return { granted: await signInConfirmed(tx, await accountFor(tx, token), client, 'otp') };
      });
      // Returned, not thrown, so the attempt count commits.
      if ('error' in outcome) throw outcome.error;
      return grants.issue(outcome.granted);
    },

    /** With confirmation required, an email change waits for a link mailed to the new address. */
    async requestEmailChange(user: { id: string }, newEmail: string, client: ClientInfo): Promise<void> {
      await sendLimits(newEmail, client);
      const [holder] = await db.select({ id: users.id }).from(users).where(eq(users.email, newEmail));
      if (holder) throw new AuthError('EMAIL_TAKEN');
      mail('email_change', newEmail, await issueToken(db, user, 'email_change', newEmail));
    },
  };
}

/** The "email" identity a password or mailed link stands for, added if missing. */
export async function ensureEmailIdentity(tx: Tx, user: UserRow, email: string): Promise<void> {
  await tx
    .insert(identities)
    .values({
      userId: user.id,
      provider: 'email',
      issuer: 'email',
      providerId: user.id,
      identityData: { sub: user.id, email },
    })
    .onConflictDoNothing();
  await syncProviders(tx, user.id);
}
