import { eq, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import { users } from '../../../db/schema.js';
import { type AuditEntry, auditStatement, byService } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError, badInput, isUniqueViolation } from '../../errors.js';
import { type ClientInfo, toUserView, type UserView } from '../../model.js';
import { checkMetadata } from '../../validate.js';
import { releasePendingClaims } from '../address-proof.js';

/** What an operator may change on an account. */
export type AdminUserUpdate = { appMetadata?: unknown; bannedUntil?: Date | null; emailConfirmed?: boolean | null };

/** app_metadata keys are merged (a null value removes the key); it flows into the next tokens. */
export async function updateUser(
  deps: Pick<AuthDeps, 'db'>,
  id: string,
  input: AdminUserUpdate,
  client: ClientInfo | null = null,
): Promise<UserView> {
  const { db } = deps;
  const [current] = await db.select().from(users).where(eq(users.id, id));
  if (!current) throw badInput('No user has this id.', 'id');
  const set: PgUpdateSetSource<typeof users> = {};
  if (input.appMetadata != null) {
    const merged: Record<string, unknown> = { ...current.rawAppMetaData };
    for (const [k, v] of Object.entries(checkMetadata(input.appMetadata, 'appMetadata'))) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    set.rawAppMetaData = checkMetadata(merged, 'appMetadata');
  }
  if (input.bannedUntil !== undefined) set.bannedUntil = input.bannedUntil;
  if (input.emailConfirmed != null) set.emailConfirmedAt = input.emailConfirmed ? sql`now()` : null;
  // The operator vouches for a registration still waiting on its link: its address becomes the account's.
  const vouched = input.emailConfirmed === true && current.email === null ? current.pendingEmail : null;
  if (vouched !== null) {
    Object.assign(set, {
      email: vouched,
      pendingEmail: null,
      pendingEmailProven: false,
      pendingEmailApproved: false,
    });
  }
  if (Object.keys(set).length === 0) return toUserView(current);
  try {
    const user = await db.transaction(async (tx) => {
      const [user] = await tx.update(users).set(set).where(eq(users.id, id)).returning();
      if (!user) throw badInput('No user has this id.', 'id');
      if (vouched !== null) await releasePendingClaims(tx, vouched, id);
      await auditStatement(tx, adminAudit(id, input, client));
      return user;
    });
    return toUserView(user);
  } catch (err) {
    if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
    throw err;
  }
}

/** admin.user_updated naming the fields changed (never their values), and a ban or its end. */
function adminAudit(id: string, input: AdminUserUpdate, client: ClientInfo | null): AuditEntry[] {
  const fields = [
    ...(input.appMetadata != null ? ['appMetadata'] : []),
    ...(input.bannedUntil !== undefined ? ['bannedUntil'] : []),
    ...(input.emailConfirmed != null ? ['emailConfirmed'] : []),
  ];
  const entries = [byService('admin.user_updated', id, client, { fields })];
  if (input.bannedUntil !== undefined) {
    entries.push(
      input.bannedUntil === null || input.bannedUntil <= new Date()
        ? byService('user.unbanned', id, client)
        : byService('user.banned', id, client, { bannedUntil: input.bannedUntil.toISOString() }),
    );
  }
  return entries;
}
