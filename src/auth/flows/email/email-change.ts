import { and, eq, inArray, sql } from 'drizzle-orm';
import { identities, oneTimeTokens, type UserRow, users } from '../../../db/schema.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError, isUniqueViolation } from '../../errors.js';
import type { ClientInfo } from '../../model.js';
import { consumeInOrder, emailSendChecks } from '../../rate-limit.js';
import { confirmedNow, releasePendingClaims } from '../address-proof.js';
import { holder, mergeIdentityEmail } from './identity.js';
import { consume, invalidToken, issueToken, mail, notify } from './tokens.js';

/** Where an email change stands: done, or waiting for the link of one of the two addresses. */
export type EmailChangeStatus = { complete: boolean; email: string; awaiting: 'NEW' | 'CURRENT' | null };

/** Before anything of an account change is written: the limits of the mail, and a free address. */
export async function checkEmailChange(deps: AuthDeps, newEmail: string, client: ClientInfo): Promise<void> {
  await consumeInOrder(deps.limiter, emailSendChecks(newEmail, client.ip));
  if (await holder(deps, newEmail)) throw new AuthError('EMAIL_TAKEN');
}

/**
 * Asks for `newEmail` to become the account's address. It stays pending (in no token,
 * holding nothing) until the link mailed to it is used; an account that already has an
 * address also needs the current address's approval (SECURE_EMAIL_CHANGE, the default),
 * or at least tells it. The caller checked re-authentication, assurance and checkEmailChange.
 */
export async function startEmailChange(
  deps: AuthDeps,
  user: UserRow,
  newEmail: string,
  client: ClientInfo | null = null,
): Promise<UserRow> {
  const current = user.email;
  const needsApproval = current !== null && deps.config.mail.secureEmailChange;
  const { updated, links } = await deps.db.transaction(async (tx) => {
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
    await auditStatement(tx, byUser('user.email_change_requested', user.id, client));
    // A first address is a confirmation; a change of address has its own links.
    if (current === null) {
      await tx
        .delete(oneTimeTokens)
        .where(
          and(eq(oneTimeTokens.userId, user.id), inArray(oneTimeTokens.kind, ['email_change', 'email_change_current'])),
        );
      return {
        updated,
        links: { first: true, confirm: await issueToken(deps, tx, user, 'confirmation', newEmail) } as const,
      };
    }
    await tx
      .delete(oneTimeTokens)
      .where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.kind, 'confirmation')));
    const proveNew = await issueToken(deps, tx, user, 'email_change', newEmail);
    const approve = needsApproval ? await issueToken(deps, tx, user, 'email_change_current', current) : null;
    if (!needsApproval)
      await tx
        .delete(oneTimeTokens)
        .where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.kind, 'email_change_current')));
    return { updated, links: { first: false, proveNew, approve } as const };
  });
  if (links.first) {
    mail(deps, 'confirmation', newEmail, links.confirm);
  } else {
    mail(deps, 'email_change', newEmail, links.proveNew);
    // current is not null here: a change (not a first address) has a current address.
    if (links.approve) mail(deps, 'email_change_current', current!, links.approve, newEmail);
    else notify(deps, 'email_change_requested', current, newEmail);
  }
  return updated;
}

/**
 * One of the two links of an email change: the new address proves itself, or the
 * current one approves. When both are in, the address changes, the old one is told, and
 * links still outstanding die. No session is made: a link in a mailbox is not a sign-in.
 */
export async function confirmEmailChange(
  deps: AuthDeps,
  token: string,
  client: ClientInfo,
): Promise<EmailChangeStatus> {
  await deps.limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  const row = await consume(deps, token, ['email_change', 'email_change_current']);
  const userId = row.userId;
  if (userId === null) throw invalidToken();
  try {
    const outcome = await deps.db.transaction(async (tx) => {
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
        .set({ email: newEmail, ...confirmedNow() })
        .where(eq(users.id, userId))
        .returning();
      if (!changed) throw invalidToken();
      await tx
        .update(identities)
        .set(mergeIdentityEmail(newEmail))
        .where(and(eq(identities.userId, userId), eq(identities.provider, 'email')));
      // Links and codes mailed to the old address stop working with it.
      await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
      await Promise.all([
        releasePendingClaims(tx, newEmail, userId),
        auditStatement(tx, byUser('user.email_changed', userId, client)),
      ]);
      return { status: { complete: true, email: newEmail, awaiting: null }, old: user.email };
    });
    if (outcome.old !== undefined) notify(deps, 'email_changed', outcome.old, outcome.status.email);
    return outcome.status;
  } catch (err) {
    // Someone else proved the address first.
    if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
    throw err;
  }
}
