import { eq, getTableColumns, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Db } from '../db/client.js';
import { sessions, users } from '../db/schema.js';
import { releasePendingClaims } from './address-proof.js';
import { AuthError, badInput, isUniqueViolation } from './errors.js';
import { toUserView, type UserView } from './model.js';
import { checkMetadata } from './validate.js';

export type AdminService = ReturnType<typeof createAdminService>;

type UserPageRow = typeof users.$inferSelect & { cursorTs: string };

/**
 * What a service-role caller may do to any account. Runs on the auth pool; the GraphQL
 * layer checks the service role before calling any of it.
 */
export function createAdminService(db: Db) {
  const byId = async (id: string) => (await db.select().from(users).where(eq(users.id, id)))[0];

  return {
    /** Newest first; `search` matches substrings of the email or the pending one, case-insensitively. */
    async listUsers(opts: { first: number; after: { createdAt: string; id: string } | null; search: string | null }) {
      const pattern = opts.search ? `%${opts.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
      const rows: UserPageRow[] = await db
        .select({ ...getTableColumns(users), cursorTs: sql<string>`${users.createdAt}::text` })
        .from(users)
        .where(
          sql`${pattern === null ? sql`true` : sql`(${users.email} like ${pattern} or ${users.pendingEmail} like ${pattern})`}
              and ${
                opts.after === null
                  ? sql`true`
                  : sql`(${users.createdAt}, ${users.id}) < (${opts.after.createdAt}::text::timestamptz, ${opts.after.id}::uuid)`
              }`,
        )
        .orderBy(sql`${users.createdAt} desc, ${users.id} desc`)
        .limit(opts.first + 1);
      return { rows: rows.slice(0, opts.first), hasNextPage: rows.length > opts.first };
    },

    async getUser(id: string): Promise<UserView | null> {
      const user = await byId(id);
      return user ? toUserView(user) : null;
    },

    /** app_metadata keys are merged (a null value removes the key); it flows into the next tokens. */
    async updateUser(
      id: string,
      input: { appMetadata?: unknown; bannedUntil?: Date | null; emailConfirmed?: boolean | null },
    ): Promise<UserView> {
      const current = await byId(id);
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
          return user;
        });
        return toUserView(user);
      } catch (err) {
        if (isUniqueViolation(err, 'users_email_key')) throw new AuthError('EMAIL_TAKEN');
        throw err;
      }
    },

    async deleteUser(id: string): Promise<boolean> {
      return (await db.delete(users).where(eq(users.id, id)).returning({ id: users.id })).length > 0;
    },

    async signOutUser(userId: string): Promise<boolean> {
      await db.delete(sessions).where(eq(sessions.userId, userId));
      return true;
    },
  };
}
