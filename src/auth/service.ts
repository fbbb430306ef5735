import { and, desc, eq, gt, isNull, ne, or, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { ProfileRow, UserRow } from '../db/schema.js';
import { identities, profiles, refreshTokens, sessions, users } from '../db/schema.js';
import type { AccessTokens } from './access-token.js';
import { type EmailFlows, ensureEmailIdentity } from './email-flows.js';
import { AuthError, badInput, isUniqueViolation } from './errors.js';
import { type Amr, createGrants } from './grants.js';
import type { PasswordHasher } from './password.js';
import type { RateLimiter } from './rate-limit.js';
import { childRefreshToken, hashRefreshToken, looksLikeRefreshToken } from './refresh-token.js';
import { checkMetadata, checkPassword, normalizeEmail, PASSWORD_MAX, profileSeed } from './validate.js';

export type UserView = {
  id: string;
  email: string;
  role: string;
  createdAt: Date | string;
  lastSignInAt: Date | string | null;
  userMetadata: Record<string, unknown>;
  appMetadata: Record<string, unknown>;
  emailConfirmedAt: Date | string | null;
  isAnonymous: boolean;
  /** Present when the auth path already read it, so the payload's user shows its own profile. */
  preloadedProfile?: ProfileRow | null;
};

export type AuthPayload = {
  accessToken: string;
  refreshToken: string;
  tokenType: 'bearer';
  expiresIn: number;
  expiresAt: Date;
  aal: 'aal1' | 'aal2';
  mfaRequired: boolean;
  user: UserView;
};

/** register's answer: a session, or (confirmation required) the user and no session yet. */
export type SignUpResult = { user: UserView; session: AuthPayload | null; confirmationRequired: boolean };

export type SessionView = {
  id: string;
  createdAt: Date;
  updatedAt: Date;
  lastActiveAt: Date;
  userAgent: string | null;
  ip: string | null;
  current: boolean;
};

export type ClientInfo = { ip: string | null; userAgent: string | null };
export type SignOutScope = 'LOCAL' | 'GLOBAL' | 'OTHERS';

export type AuthService = ReturnType<typeof createAuthService>;

/**
 * Sign-up, sign-in, refresh and sign-out: the only code that reads or writes schema auth.
 * Runs on the auth pool, whose connections are authgate_auth; GraphQL requests never are.
 */
export function createAuthService(deps: {
  db: Db;
  tokens: AccessTokens;
  passwords: PasswordHasher;
  limiter: RateLimiter;
  refreshKey: string;
  config: Pick<Config, 'refresh' | 'sessions' | 'anonymous'>;
  email: EmailFlows;
}) {
  const { db, tokens, passwords, limiter, refreshKey, config } = deps;

  const { grant, issue, startSession } = createGrants({ tokens, config });

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

    /** Sign-up that also works when the email must be confirmed first (then no session yet). */
    async register(
      input: { email: string; password: string; data?: unknown },
      client: ClientInfo,
    ): Promise<SignUpResult> {
      await limiter.consume([{ limit: 'signup_ip', subject: client.ip }]);
      const email = normalizeEmail(input.email);
      checkPassword(input.password, email ?? '');
      const metadata = checkMetadata(input.data);
      const seed = profileSeed(metadata);
      const hash = await passwords.hash(input.password);
      const confirm = deps.email.requireConfirmation;
      try {
        const outcome = await db.transaction(async (tx) => {
          const [user] = await tx
            .insert(users)
            .values({
              email,
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
      await limiter.consume([
        { limit: 'signin_email', subject: email },
        { limit: 'token_ip', subject: client.ip },
      ]);
      // Longer than any accepted password: it cannot match, and hashing it is wasted work.
      if ([...input.password].length > PASSWORD_MAX) throw new AuthError('INVALID_CREDENTIALS');
      const [found] = await db.select().from(users).where(eq(users.email, email));
      const ok = await passwords.verify(found?.encryptedPassword ?? null, input.password);
      if (!found || !ok) throw new AuthError('INVALID_CREDENTIALS');
      if (found.bannedUntil && found.bannedUntil > new Date())
        throw new AuthError('FORBIDDEN', 'This account is banned.');
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
        // Minted before the session was raised (a second factor retires every earlier token,
        // spent ones included): a replay within the reuse interval must not come out aal2.
        if (row.token_aal !== row.aal) return { error: new AuthError('INVALID_REFRESH_TOKEN') };
        if (row.spent && !row.within_reuse) {
          // A spent token replayed after the interval: treat as theft, end the session.
          await tx.delete(sessions).where(eq(sessions.id, row.session_id));
          return { error: new AuthError('INVALID_REFRESH_TOKEN') };
        }
        const [user] = await tx.select().from(users).where(eq(users.id, row.user_id));
        if (!user) return { error: new AuthError('INVALID_REFRESH_TOKEN') };
        if (user.bannedUntil && user.bannedUntil > new Date())
          return { error: new AuthError('FORBIDDEN', 'This account is banned.') };
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
     * Email, password and metadata of the caller. A new password needs the current one and
     * ends every other session; metadata keys are merged into user_metadata.
     */
    async updateUser(
      viewer: { id: string; sessionId: string | null },
      input: { email?: string | null; password?: string | null; currentPassword?: string | null; data?: unknown },
      client: ClientInfo = { ip: null, userAgent: null },
    ): Promise<UserView> {
      const [current] = await db.select().from(users).where(eq(users.id, viewer.id));
      if (!current) throw new AuthError('UNAUTHENTICATED');
      const set: PgUpdateSetSource<typeof users> = {};
      let email = input.email == null ? current.email : normalizeEmail(input.email);
      // With confirmation required, a new address of an account that has one waits for the
      // link mailed to it (sent once every other check passed); a first address is set at
      // once and confirmed by mail.
      const pendingChange =
        email !== current.email && email !== null && deps.email.requireConfirmation && current.email !== null
          ? email
          : null;
      if (pendingChange !== null) email = current.email;
      if (email !== current.email) set.email = email;
      if (input.data != null) {
        const merged = checkMetadata({ ...current.rawUserMetaData, ...checkMetadata(input.data) });
        set.rawUserMetaData = merged;
      }
      if (input.password != null) {
        // A user without a password (anonymous, or from a provider) sets a first one
        // without it; changing one needs the current one.
        if (current.encryptedPassword !== null) {
          if (input.currentPassword == null)
            throw badInput('currentPassword is required to change the password.', 'currentPassword');
          if (
            [...input.currentPassword].length > PASSWORD_MAX ||
            !(await passwords.verify(current.encryptedPassword, input.currentPassword))
          ) {
            throw new AuthError('INVALID_CREDENTIALS', 'The current password is wrong.');
          }
        }
        checkPassword(input.password, email ?? '');
        set.encryptedPassword = await passwords.hash(input.password);
      }
      // An anonymous user with an email and a password is permanent, and keeps its data.
      const upgraded =
        current.isAnonymous && email !== null && (set.encryptedPassword ?? current.encryptedPassword) !== null;
      if (upgraded) set.isAnonymous = false;
      if (pendingChange !== null) await deps.email.requestEmailChange(current, pendingChange, client);
      if (Object.keys(set).length === 0) return toUserView(current);
      try {
        const { view, confirm } = await db.transaction(async (tx) => {
          let [user] = await tx.update(users).set(set).where(eq(users.id, viewer.id)).returning();
          if (!user) throw new AuthError('UNAUTHENTICATED');
          if (set.email) {
            await tx
              .update(identities)
              .set({
                identityData: sql`${identities.identityData} || ${JSON.stringify({ email })}::jsonb`,
                updatedAt: sql`now()`,
              })
              .where(and(eq(identities.userId, user.id), eq(identities.provider, 'email')));
          }
          // Email and password now both present for the first time (in one call or two):
          // password sign-in becomes a way in, as an "email" identity.
          if (
            user.email !== null &&
            user.encryptedPassword !== null &&
            (current.encryptedPassword === null || current.email === null)
          ) {
            await ensureEmailIdentity(tx, user, user.email);
            [user] = await tx.select().from(users).where(eq(users.id, viewer.id));
            if (!user) throw new AuthError('UNAUTHENTICATED');
          }
          if (set.encryptedPassword) {
            const mine = eq(sessions.userId, user.id);
            await tx
              .delete(sessions)
              .where(viewer.sessionId === null ? mine : and(mine, ne(sessions.id, viewer.sessionId)));
          }
          const confirm =
            deps.email.requireConfirmation && set.email && user.email !== null && user.emailConfirmedAt === null
              ? { email: user.email, secret: await deps.email.issueToken(tx, user, 'confirmation', user.email) }
              : null;
          return { view: toUserView(user), confirm };
        });
        if (confirm) deps.email.mail('confirmation', confirm.email, confirm.secret);
        return view;
      } catch (err) {
        if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
        throw err;
      }
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

    /** Deletes the caller after checking the password; profile, sessions and tokens cascade. */
    async deleteAccount(userId: string, password: string): Promise<boolean> {
      const [user] = await db.select().from(users).where(eq(users.id, userId));
      const ok =
        [...password].length <= PASSWORD_MAX && (await passwords.verify(user?.encryptedPassword ?? null, password));
      if (!user || !ok) throw new AuthError('INVALID_CREDENTIALS');
      await db.delete(users).where(eq(users.id, userId));
      return true;
    },
  };
}

export function toUserView(user: UserRow): UserView {
  return {
    id: user.id,
    email: user.email ?? '',
    role: user.role,
    createdAt: user.createdAt,
    lastSignInAt: user.lastSignInAt,
    userMetadata: user.rawUserMetaData,
    appMetadata: user.rawAppMetaData,
    emailConfirmedAt: user.emailConfirmedAt,
    isAnonymous: user.isAnonymous,
  };
}
