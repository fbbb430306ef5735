import { and, eq, ne } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import { sessions, users } from '../../../db/schema.js';
import { type Caller, callerState, requireAal2IfEnrolled } from '../../assurance.js';
import { type AuditEntry, auditStatement, byUser } from '../../audit.js';
import { AuthError, badInput, isUniqueViolation } from '../../errors.js';
import { type ClientInfo, toUserView, type UserView } from '../../model.js';
import { checkMetadata, checkPassword, normalizeEmail } from '../../validate.js';
import { ensureEmailIdentity } from '../email/index.js';
import type { AccountDeps } from './deps.js';
import { checkCurrentPassword, reauthenticate } from './reauthenticate.js';

/**
 * Email, password and metadata of the caller. With a verified factor, any of it needs an
 * aal2 session. A new password needs the current one (a first one, a recent sign-in),
 * ends every other session and is told to the address. A new email needs the current
 * password or a recent sign-in, and stays pending until proven by mail (see
 * startEmailChange). Metadata keys are merged into user_metadata.
 */
export async function updateUser(
  deps: AccountDeps,
  caller: Caller,
  input: { email?: string | null; password?: string | null; currentPassword?: string | null; data?: unknown },
  client: ClientInfo = { ip: null, userAgent: null },
): Promise<UserView> {
  const { db, passwords } = deps;
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
  if (input.password != null) {
    if (current.encryptedPassword !== null) {
      if (input.currentPassword == null)
        throw badInput('currentPassword is required to change the password.', 'currentPassword');
      await checkCurrentPassword(deps, current, input.currentPassword, client);
    } else {
      await reauthenticate(deps, current, state, input.currentPassword, client);
    }
    checkPassword(input.password, newEmail ?? current.email ?? current.pendingEmail ?? '');
    set.encryptedPassword = await passwords.hash(input.password);
  } else if (changesEmail) {
    await reauthenticate(deps, current, state, input.currentPassword, client);
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
        const audit: AuditEntry[] = [];
        if (set.email) audit.push(byUser('user.email_changed', updated.id, client));
        // A new password ends every other session: whoever held the old one is signed out.
        if (set.encryptedPassword) {
          audit.push(byUser('user.password_changed', updated.id, client));
          const mine = eq(sessions.userId, updated.id);
          await tx
            .delete(sessions)
            .where(caller.sessionId === null ? mine : and(mine, ne(sessions.id, caller.sessionId)));
        }
        if (audit.length > 0) await auditStatement(tx, audit);
        return updated;
      });
    } catch (err) {
      if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
      throw err;
    }
    if (set.encryptedPassword && current.encryptedPassword !== null) deps.email.notify('password_changed', user.email);
  }
  if (changesEmail && !emailNow) user = await deps.email.startEmailChange(user, newEmail, client);
  return toUserView(user);
}
