import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { identities, type OneTimeKind, oneTimeTokens, profiles, sessions, type UserRow, users } from '../db/schema.js';
import { mailLink } from '../mail/mailer.js';
import type { NoticeKind } from '../mail/templates.js';
import { proveAddress, releasePendingClaims } from './address-proof.js';
import { syncProviders } from './app-metadata.js';
import type { AuthDeps } from './deps.js';
import { AuthError, bannedError, isUniqueViolation } from './errors.js';
import { type AuthPayload, type ClientInfo, isBanned } from './model.js';
import { consumeInOrder, emailSendChecks, signInChecks } from './rate-limit.js';
import { hashSecret, looksLikeSecret, randomSecret } from './secret.js';
import { checkPassword, normalizeEmail } from './validate.js';

export type EmailFlows = ReturnType<typeof createEmailFlows>;

/** Where an email change stands: done, or waiting for the link of one of the two addresses. */
export type EmailChangeStatus = { complete: boolean; email: string; awaiting: 'NEW' | 'CURRENT' | null };

const invalidToken = () =>
  new AuthError('BAD_USER_INPUT', 'The link is invalid, expired or already used.', { reason: 'INVALID_TOKEN' });
const invalidCode = () => new AuthError('INVALID_CREDENTIALS', 'Invalid email or code.');

/**
 * Everything that proves an email address by mail: sign-up confirmation, password
 * recovery, magic link and six-digit code, email change. Each mailed secret is random,
 * single use (deleted as it is used), stored as a hash, expires after EMAIL_TOKEN_TTL_S and
 * replaces the previous one of its kind; sending is rate-limited per address and client.
 */
export function createEmailFlows(deps: AuthDeps) {
  const { db, grants, limiter, passwords, mailer, config, queue } = deps;
  const codeHash = (userId: string, code: string) =>
    createHmac('sha256', deps.serverKey).update(`email-otp:${userId}:${code}`).digest('hex');
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

  function mail(kind: OneTimeKind, to: string, secret: { token: string; code?: string }, newEmail?: string): void {
    mailer.send(kind, to, {
      link: mailLink(config.mail.linkUrl, secret.token, kind),
      code: secret.code,
      minutes,
      newEmail,
    });
  }

  /** A mail that only tells (a password or an address changed): no link, nothing to use. */
  function notify(kind: NoticeKind, to: string | null, newEmail?: string): void {
    if (to !== null) mailer.send(kind, to, { newEmail });
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

  /** The account whose address is `email`: only a held address counts, never a pending one. */
  async function holder(email: string): Promise<UserRow | undefined> {
    return (await db.select().from(users).where(eq(users.email, email)))[0];
  }

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

  /**
   * The mail reached the owner of the account's address: that proves it (and, for an
   * address never proven before, leaves the account to the prover alone), then a session.
   */
  async function signInProven(tx: Tx, userId: string, client: ClientInfo, method: string) {
    await proveAddress(tx, userId);
    return startSession(tx, userId, client, method);
  }

  async function startSession(tx: Tx, userId: string, client: ClientInfo, method: string) {
    const [user] = await tx.update(users).set({ lastSignInAt: sql`now()` }).where(eq(users.id, userId)).returning();
    if (!user) throw invalidToken();
    if (isBanned(user)) throw bannedError();
    const { session, refreshToken } = await grants.startSession(tx, user, client, method);
    return grants.grant(tx, user, session, refreshToken);
  }

  /**
   * A confirmation link: the address it was sent to becomes the account's. For the
   * account's pending address (a registration, a first address) it confirms the request
   * that sent it, with the password given there; for an address the account held without
   * proof, it is a first proof like any other (see proveAddress).
   */
  async function confirmAddress(tx: Tx, userId: string, email: string): Promise<void> {
    const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('update');
    if (!user) throw invalidToken();
    if (user.email === email) {
      await proveAddress(tx, userId);
      return;
    }
    if (user.pendingEmail !== email) throw invalidToken(); // superseded by a later request
    const [confirmed] = await tx
      .update(users)
      .set({
        email,
        pendingEmail: null,
        pendingEmailProven: false,
        pendingEmailApproved: false,
        emailConfirmedAt: sql`now()`,
        // An anonymous user with a proven address is permanent: it can always sign in again.
        isAnonymous: false,
        updatedAt: sql`now()`,
      })
      .where(eq(users.id, userId))
      .returning();
    if (!confirmed) throw invalidToken();
    await ensureEmailIdentity(tx, confirmed, email);
    await releasePendingClaims(tx, email, userId);
  }

  return {
    requireConfirmation: config.mail.requireConfirmation,
    issueToken,
    mail,
    notify,
    /** Resolves when queued token writes and mails are done; for shutdown and tests. */
    idle: async (): Promise<void> => {
      await queue.idle();
      await mailer.idle();
    },

    /**
     * Mails a new confirmation link: for the newest registration waiting on the address, or
     * an account that holds it unproven. True either way, and as fast either way.
     */
    async resendConfirmation(rawEmail: string, client: ClientInfo): Promise<boolean> {
      const email = normalizeEmail(rawEmail);
      await consumeInOrder(limiter, emailSendChecks(email, client.ip));
      const [user] = await db
        .select()
        .from(users)
        .where(
          or(
            eq(users.email, email),
            and(eq(users.pendingEmail, email), isNull(users.email), eq(users.isAnonymous, false)),
          ),
        )
        .orderBy(sql`${users.email} is null`, desc(users.createdAt))
        .limit(1);
      if (user && user.emailConfirmedAt === null) {
        queue.later('resendConfirmation', async () =>
          mail('confirmation', email, await issueToken(db, user, 'confirmation', email)),
        );
      }
      return true;
    },

    /** A confirmation link: confirms the address and signs the user in. */
    async verifyEmail(token: string, client: ClientInfo): Promise<AuthPayload> {
      await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
      const row = await consume(token, ['confirmation']);
      const userId = row.userId;
      if (userId === null) throw invalidToken(); // only magic links are issued without an account
      try {
        const granted = await db.transaction(async (tx) => {
          await confirmAddress(tx, userId, row.email);
          return startSession(tx, userId, client, 'otp');
        });
        return grants.issue(granted);
      } catch (err) {
        // Someone else proved the address first.
        if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
        throw err;
      }
    },

    /** Mails a recovery link if the address has an account; answers the same either way, as fast. */
    async requestPasswordReset(rawEmail: string, client: ClientInfo): Promise<boolean> {
      const email = normalizeEmail(rawEmail);
      await consumeInOrder(limiter, emailSendChecks(email, client.ip));
      const user = await holder(email);
      if (user && !isBanned(user)) {
        queue.later('requestPasswordReset', async () =>
          mail('recovery', email, await issueToken(db, user, 'recovery', email)),
        );
      }
      return true;
    },

    /**
     * Sets a new password from a recovery link: every session ends, the link is spent, and
     * a new session starts. The link proves the address, so an account that never proved
     * it first loses whatever was set before (see proveAddress). A user who had only a
     * provider gains password sign-in.
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
        const proven = await proveAddress(tx, userId);
        // The address changed since the link was sent: it proves nothing about this account.
        if (proven.email !== row.email) throw invalidToken();
        const [user] = await tx
          .update(users)
          .set({ encryptedPassword: hash, isAnonymous: false })
          .where(eq(users.id, userId))
          .returning();
        if (!user) throw invalidToken();
        await tx.delete(sessions).where(eq(sessions.userId, user.id));
        await ensureEmailIdentity(tx, user, row.email);
        return startSession(tx, user.id, client, 'recovery');
      });
      notify('password_changed', row.email);
      return grants.issue(granted);
    },

    /**
     * Mails a sign-in link and a six-digit code. With `createUser` an unknown address gets
     * an account (no password) when it first signs in; the answer is true either way.
     */
    async signInWithOtp(rawEmail: string, createUser: boolean, client: ClientInfo): Promise<boolean> {
      const email = normalizeEmail(rawEmail);
      await consumeInOrder(limiter, emailSendChecks(email, client.ip));
      const user = await holder(email);
      // No account and createUser: the link is pending, and the account is made only when
      // it is used, so nobody can occupy an address by asking for mail to it.
      if (user && !isBanned(user)) {
        queue.later('signInWithOtp', async () =>
          mail('magiclink', email, await issueToken(db, user, 'magiclink', email, true)),
        );
      } else if (!user && createUser) {
        queue.later('signInWithOtp', async () =>
          mail('magiclink', email, await issueToken(db, null, 'magiclink', email, true)),
        );
      }
      return true;
    },

    async verifyMagicLink(token: string, client: ClientInfo): Promise<AuthPayload> {
      await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
      const row = await consume(token, ['magiclink']);
      try {
        return grants.issue(
          await db.transaction(async (tx) => signInProven(tx, await accountFor(tx, row), client, 'otp')),
        );
      } catch (err) {
        // Someone made the account in the same instant: the link is spent, ask again.
        if (isUniqueViolation(err, 'users_email_key')) throw invalidToken();
        throw err;
      }
    },

    /**
     * The six-digit code of a magic-link mail. Wrong codes count against the code (it dies
     * after EMAIL_OTP_MAX_ATTEMPTS) and against the sign-in limits of the address.
     */
    async verifyOtp(rawEmail: string, code: string, client: ClientInfo): Promise<AuthPayload> {
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
        return { granted: await signInProven(tx, await accountFor(tx, token), client, 'otp') };
      });
      // Returned, not thrown, so the attempt count commits.
      if ('error' in outcome) throw outcome.error;
      return grants.issue(outcome.granted);
    },

    /** Before anything of an account change is written: the limits of the mail, and a free address. */
    async checkEmailChange(newEmail: string, client: ClientInfo): Promise<void> {
      await consumeInOrder(limiter, emailSendChecks(newEmail, client.ip));
      if (await holder(newEmail)) throw new AuthError('EMAIL_TAKEN');
    },

    /**
     * Asks for `newEmail` to become the account's address. It stays pending (in no token,
     * holding nothing) until the link mailed to it is used; an account that already has an
     * address also needs the current address's approval (SECURE_EMAIL_CHANGE, the default),
     * or at least tells it. The caller checked re-authentication, assurance and checkEmailChange.
     */
    async startEmailChange(user: UserRow, newEmail: string): Promise<UserRow> {
      const current = user.email;
      const needsApproval = current !== null && config.mail.secureEmailChange;
      const { updated, links } = await db.transaction(async (tx) => {
        const [updated] = await tx
          .update(users)
          .set({
            pendingEmail: newEmail,
            pendingEmailProven: false,
            pendingEmailApproved: !needsApproval,
            updatedAt: sql`now()`,
          })
          .where(eq(users.id, user.id))
          .returning();
        if (!updated) throw new AuthError('UNAUTHENTICATED');
        // A first address is a confirmation; a change of address has its own links.
        if (current === null) {
          await tx
            .delete(oneTimeTokens)
            .where(
              and(
                eq(oneTimeTokens.userId, user.id),
                inArray(oneTimeTokens.kind, ['email_change', 'email_change_current']),
              ),
            );
          return {
            updated,
            links: { first: true, confirm: await issueToken(tx, user, 'confirmation', newEmail) } as const,
          };
        }
        await tx
          .delete(oneTimeTokens)
          .where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.kind, 'confirmation')));
        const proveNew = await issueToken(tx, user, 'email_change', newEmail);
        const approve = needsApproval ? await issueToken(tx, user, 'email_change_current', current) : null;
        if (!needsApproval)
          await tx
            .delete(oneTimeTokens)
            .where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.kind, 'email_change_current')));
        return { updated, links: { first: false, proveNew, approve } as const };
      });
      if (links.first) {
        mail('confirmation', newEmail, links.confirm);
      } else {
        mail('email_change', newEmail, links.proveNew);
        if (links.approve) mail('email_change_current', current!, links.approve, newEmail);
        else notify('email_change_requested', current, newEmail);
      }
      return updated;
    },

    /**
     * One of the two links of an email change: the new address proves itself, or the
     * current one approves. When both are in, the address changes, the old one is told, and
     * links still outstanding die. No session is made: a link in a mailbox is not a sign-in.
     */
    async confirmEmailChange(token: string, client: ClientInfo): Promise<EmailChangeStatus> {
      await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
      const row = await consume(token, ['email_change', 'email_change_current']);
      const userId = row.userId;
      if (userId === null) throw invalidToken();
      try {
        const outcome = await db.transaction(async (tx) => {
          const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('update');
          if (!user || user.pendingEmail === null) throw invalidToken();
          // Each link belongs to the change that sent it: a later request supersedes it.
          const fresh = row.kind === 'email_change' ? row.email === user.pendingEmail : row.email === user.email;
          if (!fresh) throw invalidToken();
          const proven = user.pendingEmailProven || row.kind === 'email_change';
          const approved = user.pendingEmailApproved || row.kind === 'email_change_current';
          if (!(proven && approved)) {
            await tx
              .update(users)
              .set({ pendingEmailProven: proven, pendingEmailApproved: approved, updatedAt: sql`now()` })
              .where(eq(users.id, userId));
            return {
              status: { complete: false, email: user.pendingEmail, awaiting: proven ? 'CURRENT' : 'NEW' } as const,
            };
          }
          const newEmail = user.pendingEmail;
          const [changed] = await tx
            .update(users)
            .set({
              email: newEmail,
              pendingEmail: null,
              pendingEmailProven: false,
              pendingEmailApproved: false,
              emailConfirmedAt: sql`now()`,
              updatedAt: sql`now()`,
            })
            .where(eq(users.id, userId))
            .returning();
          if (!changed) throw invalidToken();
          await tx
            .update(identities)
            .set({
              identityData: sql`${identities.identityData} || ${JSON.stringify({ email: newEmail })}::jsonb`,
              updatedAt: sql`now()`,
            })
            .where(and(eq(identities.userId, userId), eq(identities.provider, 'email')));
          // Links and codes mailed to the old address stop working with it.
          await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
          await releasePendingClaims(tx, newEmail, userId);
          return { status: { complete: true, email: newEmail, awaiting: null }, old: user.email };
        });
        if (outcome.old !== undefined) notify('email_changed', outcome.old, outcome.status.email);
        return outcome.status;
      } catch (err) {
        // Someone else proved the address first.
        if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
        throw err;
      }
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
    .onConflictDoUpdate({
      target: [identities.issuer, identities.providerId],
      set: {
        identityData: sql`${identities.identityData} || ${JSON.stringify({ email })}::jsonb`,
        updatedAt: sql`now()`,
      },
    });
  await syncProviders(tx, user.id);
}
