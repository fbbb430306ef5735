import { and, desc, eq, gt, isNull, ne, or, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { UserRow } from '../db/schema.js';
import { identities, profiles, refreshTokens, sessions, users } from '../db/schema.js';
import {
  type Caller,
  callerState,
  reauthenticationRequired,
  recentlyAuthenticated,
  requireAal2IfEnrolled,
} from './assurance.js';
import type { AuthDeps } from './deps.js';
import { type EmailFlows, ensureEmailIdentity } from './email-flows.js';
import { AuthError, badInput, bannedError, isUniqueViolation } from './errors.js';
import type { Amr } from './grants.js';
import {
  type AuthPayload,
  type ClientInfo,
  isBanned,
  type SessionView,
  type SignOutScope,
  type SignUpResult,
  toUserView,
  type UserView,
} from './model.js';
import { consumeInOrder, reauthChecks, signInChecks } from './rate-limit.js';
import { childRefreshToken, hashRefreshToken, looksLikeRefreshToken } from './refresh-token.js';
import { checkMetadata, checkPassword, normalizeEmail, PASSWORD_MAX, profileSeed } from './validate.js';

// A sign-in with no account behind the address checks at most this many registrations
// still waiting for their link; each costs a hash.
const PENDING_CHECKED = 3;

export type AuthService = ReturnType<typeof createAuthService>;

/**
 * Sign-up, sign-in, refresh and sign-out: the only code that reads or writes schema auth.
 * Runs on the auth pool, whose connections are authgate_auth; GraphQL requests never are.
 */
export function createAuthService(deps: AuthDeps & { email: EmailFlows }) {
  const { db, passwords, limiter, config, grants } = deps;
  const refreshKey = deps.serverKey;
  const { grant, issue, startSession } = grants;

  /**
   * No account holds the address. A registration still waiting for its confirmation link
   * answers EMAIL_NOT_CONFIRMED to its own password (several may wait: nobody holds the
   * address yet); anything else is INVALID_CREDENTIALS after the usual one hash.
   */
  async function refuseUnknown(email: string, password: string): Promise<void> {
    const waiting = deps.email.requireConfirmation
      ? await db
          .select({ hash: users.encryptedPassword })
          .from(users)
          .where(and(eq(users.pendingEmail, email), isNull(users.email), eq(users.isAnonymous, false)))
          .orderBy(desc(users.createdAt))
          .limit(PENDING_CHECKED)
      : [];
    if (waiting.length === 0) {
      await passwords.verify(null, password);
      return;
    }
    for (const w of waiting) {
      if (await passwords.verify(w.hash, password)) {
        throw new AuthError('FORBIDDEN', 'Confirm your email first; resendConfirmation sends a new link.', {
          reason: 'EMAIL_NOT_CONFIRMED',
        });
      }
    }
  }

  /**
   * The current password asked again by an account change: counted per user and client
   * before the hash, and hashed with no connection held.
   */
  async function checkCurrentPassword(user: UserRow, given: string, client: ClientInfo): Promise<void> {
    await limiter.consume(reauthChecks('reauth', user.id, client.ip));
    const ok = [...given].length <= PASSWORD_MAX && (await passwords.verify(user.encryptedPassword, given));
    if (!ok) throw new AuthError('INVALID_CREDENTIALS', 'The current password is wrong.');
  }

  return {
    /**
     * The contract's signUp always answers with tokens, so with REQUIRE_EMAIL_CONFIRMATION it
     * refuses (creating nothing) and points to register, which can answer without them.
     */
    async signUp(input: { email: string; password: string; data?: unknown }, client: ClientInfo): Promise<AuthPayload> {
      if (deps.email.requireConfirmation) {
        throw new AuthError('FORBIDDEN', 'This server confirms emails before sign-in: use register.', {
          reason: 'EMAIL_CONFIRMATION_REQUIRED',
        });
      }
      const { session } = await this.register(input, client);
      if (!session) throw new Error('register returned no session without confirmation');
      return session;
    },

    /**
     * Sign-up that also works when the email must be confirmed first. Then the address stays
     * pending until its link is used: it is in no token, and it holds nothing, so a
     * registration by someone who does not own the address never blocks the owner's own.
     */
    async register(
      input: { email: string; password: string; data?: unknown },
      client: ClientInfo,
    ): Promise<SignUpResult> {
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
          await tx.insert(profiles).values({ id: user.id, ...seed });
          if (confirm) {
            // No session until the mailed link comes back: the payload carries no tokens.
            const secret = await deps.email.issueToken(tx, user, 'confirmation', email);
            return { waiting: { user, secret } };
          }
          const { session, refreshToken } = await startSession(tx, user, client, 'password');
          return { granted: await grant(tx, user, session, refreshToken) };
        });
        if (outcome.waiting) {
          const { user, secret } = outcome.waiting;
          deps.email.mail('confirmation', email, secret);
          return { user: toUserView(user), session: null, confirmationRequired: true };
        }
        const session = await issue(outcome.granted);
        return { user: session.user, session, confirmationRequired: false };
      } catch (err) {
        if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
        if (isUniqueViolation(err, 'profiles_username_key')) throw new AuthError('USERNAME_TAKEN');
        throw err;
      }
    },

    async signIn(input: { email: string; password: string }, client: ClientInfo): Promise<AuthPayload> {
      const email = normalizeEmail(input.email);
      // Counted before any hash is computed, so a storm costs us one statement per attempt.
      await consumeInOrder(limiter, signInChecks(email, client.ip));
      // Longer than any accepted password: it cannot match, and hashing it is wasted work.
      if ([...input.password].length > PASSWORD_MAX) throw new AuthError('INVALID_CREDENTIALS');
      const [found] = await db.select().from(users).where(eq(users.email, email));
      if (!found) {
        await refuseUnknown(email, input.password);
        throw new AuthError('INVALID_CREDENTIALS');
      }
      const ok = await passwords.verify(found.encryptedPassword, input.password);
      if (!ok) throw new AuthError('INVALID_CREDENTIALS');
      if (isBanned(found)) throw bannedError();
      // Checked after the password, so it tells nothing to someone who does not know it.
      if (deps.email.requireConfirmation && found.emailConfirmedAt === null) {
        throw new AuthError('FORBIDDEN', 'Confirm your email first; resendConfirmation sends a new link.', {
          reason: 'EMAIL_NOT_CONFIRMED',
        });
      }
      const granted = await db.transaction(async (tx) => {
        const [user] = await tx
          .update(users)
          .set({ lastSignInAt: sql`now()` })
          .where(eq(users.id, found.id))
          .returning();
        if (!user) throw new AuthError('INVALID_CREDENTIALS');
        const { session, refreshToken } = await startSession(tx, user, client, 'password');
        return grant(tx, user, session, refreshToken);
      });
      return issue(granted);
    },

    async refresh(presented: string, client: ClientInfo): Promise<AuthPayload> {
      await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
      if (!looksLikeRefreshToken(presented)) throw new AuthError('INVALID_REFRESH_TOKEN');
      const outcome = await db.transaction(async (tx) => {
        // The row lock serialises concurrent refreshes of one token: the first spends it,
        // the others then see it spent and take the reuse-interval branch.
        const [row] = await tx.execute<{
          id: number;
          user_id: string;
          session_id: string;
          spent: boolean;
          within_reuse: boolean;
          expired: boolean;
          session_ended: boolean;
          aal: 'aal1' | 'aal2';
          token_aal: 'aal1' | 'aal2';
          amr: Amr[];
        }>(sql`
          select rt.id, rt.user_id, rt.session_id, s.aal, rt.aal as token_aal, s.amr, rt.spent_at is not null as spent,
                 coalesce(rt.spent_at > now() - make_interval(secs => ${config.refresh.reuseIntervalS}), false) as within_reuse,
                 rt.expires_at <= now() as expired,
                 coalesce(s.not_after <= now(), false)
                   or (${config.sessions.inactivityTimeoutS}::int > 0 and coalesce(s.refreshed_at, s.created_at)
                       < now() - make_interval(secs => ${config.sessions.inactivityTimeoutS})) as session_ended
          from auth.refresh_tokens rt join auth.sessions s on s.id = rt.session_id
          where rt.token_hash = ${hashRefreshToken(presented)}
          for update of rt`);
        if (!row || row.expired || row.session_ended) return { error: new AuthError('INVALID_REFRESH_TOKEN') };
        if (row.spent && !row.within_reuse) {
          // A spent token replayed after the interval: treat as theft, end the session.
          await tx.delete(sessions).where(eq(sessions.id, row.session_id));
          return { error: new AuthError('INVALID_REFRESH_TOKEN') };
        }
        // Minted before the session was raised (a second factor retires every earlier token,
        // spent ones included): a replay within the reuse interval must not come out aal2.
        // Not theft: it is what the owner's own client does when a refresh races the factor.
        if (row.token_aal !== row.aal) return { error: new AuthError('INVALID_REFRESH_TOKEN') };
        const [user] = await tx.select().from(users).where(eq(users.id, row.user_id));
        if (!user) return { error: new AuthError('INVALID_REFRESH_TOKEN') };
        if (isBanned(user)) return { error: bannedError() };
        const child = childRefreshToken(refreshKey, presented);
        if (!row.spent) {
          await tx.update(refreshTokens).set({ spentAt: sql`now()` }).where(eq(refreshTokens.id, row.id));
          await tx.insert(refreshTokens).values({
            tokenHash: hashRefreshToken(child),
            userId: row.user_id,
            sessionId: row.session_id,
            parentId: row.id,
            aal: row.token_aal,
            expiresAt: sql`now() + make_interval(secs => ${config.refresh.ttlS})`,
          });
          await tx
            .update(sessions)
            .set({ refreshedAt: sql`now()`, updatedAt: sql`now()` })
            .where(eq(sessions.id, row.session_id));
        }
        // The session's aal and amr carry over: a refresh proves nothing new about the user.
        const session = { id: row.session_id, aal: row.aal, amr: row.amr };
        return { granted: await grant(tx, user, session, child) };
      });
      // Returned, not thrown, so the revocation above commits.
      if ('error' in outcome) throw outcome.error;
      return issue(outcome.granted);
    },

    /**
     * A trusted issuer's token has no session of ours (sessionId null): LOCAL then ends
     * nothing (that session lives at the issuer), GLOBAL and OTHERS end all of ours.
     */
    async signOut(viewer: { id: string; sessionId: string | null }, scope: SignOutScope): Promise<boolean> {
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
      await db.delete(sessions).where(where);
      return true;
    },

    /** For account changes made elsewhere (linking a provider): aal2 once a factor is verified. */
    async requireAal2IfEnrolled(caller: Caller): Promise<void> {
      requireAal2IfEnrolled(await callerState(db, caller), caller);
    },

    /** The user's live sessions, newest first. */
    async sessions(viewer: { id: string; sessionId: string | null }): Promise<SessionView[]> {
      const rows = await db
        .select()
        .from(sessions)
        .where(and(eq(sessions.userId, viewer.id), or(isNull(sessions.notAfter), gt(sessions.notAfter, sql`now()`))))
        .orderBy(desc(sessions.createdAt));
      return rows.map((r) => ({
        id: r.id,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        lastActiveAt: r.refreshedAt ?? r.createdAt,
        userAgent: r.userAgent,
        ip: r.ip,
        current: r.id === viewer.sessionId,
      }));
    },

    /** Ends one of the caller's own sessions; false when it is not theirs or not there. */
    async revokeSession(userId: string, sessionId: string): Promise<boolean> {
      const gone = await db
        .delete(sessions)
        .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)))
        .returning({ id: sessions.id });
      return gone.length > 0;
    },

    /**
     * Email, password and metadata of the caller. With a verified factor, any of it needs an
     * aal2 session. A new password needs the current one (a first one, a recent sign-in),
     * ends every other session and is told to the address. A new email needs the current
     * password or a recent sign-in, and stays pending until proven by mail (see
     * startEmailChange). Metadata keys are merged into user_metadata.
     */
    async updateUser(
      caller: Caller,
      input: { email?: string | null; password?: string | null; currentPassword?: string | null; data?: unknown },
      client: ClientInfo = { ip: null, userAgent: null },
    ): Promise<UserView> {
      const [current] = await db.select().from(users).where(eq(users.id, caller.id));
      if (!current) throw new AuthError('UNAUTHENTICATED');
      const state = await callerState(db, caller);
      requireAal2IfEnrolled(state, caller);
      const newEmail = input.email == null ? null : normalizeEmail(input.email);
      // Asking again for the pending address sends its links again.
      const changesEmail = newEmail !== null && newEmail !== current.email;
      const set: PgUpdateSetSource<typeof users> = {};
      if (input.data != null) {
        set.rawUserMetaData = checkMetadata({ ...current.rawUserMetaData, ...checkMetadata(input.data) });
      }
      // Re-authentication: the current password when given (or when the change is the
      // password itself), else a sign-in recent enough. An anonymous user has nothing to
      // re-authenticate with: the session is its only credential.
      const reauthenticate = async () => {
        if (input.currentPassword != null && current.encryptedPassword !== null) {
          await checkCurrentPassword(current, input.currentPassword, client);
        } else if (!current.isAnonymous && !recentlyAuthenticated(state, config.reauthWindowS)) {
          throw reauthenticationRequired();
        }
      };
      if (input.password != null) {
        if (current.encryptedPassword !== null) {
          if (input.currentPassword == null)
            throw badInput('currentPassword is required to change the password.', 'currentPassword');
          await checkCurrentPassword(current, input.currentPassword, client);
        } else {
          await reauthenticate();
        }
        checkPassword(input.password, newEmail ?? current.email ?? current.pendingEmail ?? '');
        set.encryptedPassword = await passwords.hash(input.password);
      } else if (changesEmail) {
        await reauthenticate();
      }
      // A first address is set at once where addresses need no proof; otherwise, and for
      // every change of an address, it waits for the mail (startEmailChange, below).
      const emailNow = changesEmail && current.email === null && !deps.email.requireConfirmation;
      if (emailNow) {
        if ((await db.select({ id: users.id }).from(users).where(eq(users.email, newEmail))).length > 0)
          throw new AuthError('EMAIL_TAKEN');
        set.email = newEmail;
      } else if (changesEmail) await deps.email.checkEmailChange(newEmail, client);
      const email = emailNow ? newEmail : current.email;
      // An anonymous user with an address and a password is permanent, and keeps its data.
      if (current.isAnonymous && email !== null && (set.encryptedPassword ?? current.encryptedPassword) !== null) {
        set.isAnonymous = false;
      }
      let user = current;
      if (Object.keys(set).length > 0) {
        try {
          user = await db.transaction(async (tx) => {
            let [updated] = await tx.update(users).set(set).where(eq(users.id, caller.id)).returning();
            if (!updated) throw new AuthError('UNAUTHENTICATED');
            // Email and password now both present for the first time (in one call or two):
            // password sign-in becomes a way in, as an "email" identity.
            if (updated.email !== null && updated.encryptedPassword !== null && (set.email || set.encryptedPassword)) {
              await ensureEmailIdentity(tx, updated, updated.email);
              [updated] = await tx.select().from(users).where(eq(users.id, caller.id));
              if (!updated) throw new AuthError('UNAUTHENTICATED');
            }
            if (set.encryptedPassword) {
              const mine = eq(sessions.userId, updated.id);
              await tx
                .delete(sessions)
                .where(caller.sessionId === null ? mine : and(mine, ne(sessions.id, caller.sessionId)));
            }
            return updated;
          });
        } catch (err) {
          if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
          throw err;
        }
        if (set.encryptedPassword && current.encryptedPassword !== null)
          deps.email.notify('password_changed', user.email);
      }
      if (changesEmail && !emailNow) user = await deps.email.startEmailChange(user, newEmail);
      return toUserView(user);
    },

    /**
     * A real user with no email or password (is_anonymous in its claims), for apps that let
     * people start before signing up; updateUser with an email and a password upgrades it.
     */
    async signInAnonymously(data: unknown, client: ClientInfo): Promise<AuthPayload> {
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
          const { session, refreshToken } = await startSession(tx, user, client, 'anonymous');
          return grant(tx, user, session, refreshToken);
        });
        return await issue(granted);
      } catch (err) {
        if (isUniqueViolation(err, 'profiles_username_key')) throw new AuthError('USERNAME_TAKEN');
        throw err;
      }
    },

    /**
     * Deletes the caller after checking the password (aal2 with a verified factor); profile,
     * sessions and tokens cascade. Guesses count per user and client, like sign-ins.
     */
    async deleteAccount(caller: Caller, password: string, client: ClientInfo): Promise<boolean> {
      const [user] = await db.select().from(users).where(eq(users.id, caller.id));
      if (!user) throw new AuthError('UNAUTHENTICATED');
      requireAal2IfEnrolled(await callerState(db, caller), caller);
      await checkCurrentPassword(user, password, client).catch((err: unknown) => {
        throw err instanceof AuthError && err.code === 'INVALID_CREDENTIALS'
          ? new AuthError('INVALID_CREDENTIALS')
          : err;
      });
      await db.delete(users).where(eq(users.id, caller.id));
      return true;
    },
  };
}
