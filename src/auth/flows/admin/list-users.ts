import { getTableColumns, sql } from 'drizzle-orm';
import { users } from '../../../db/schema.js';
import type { AuthDeps } from '../../deps.js';

/** A user row with the text of its created_at, for an exact keyset cursor. */
export type UserPageRow = typeof users.$inferSelect & { cursorTs: string };

/** A page request: how many, after which cursor, and an optional search. */
export type ListUsersOptions = {
  first: number;
  after: { createdAt: string; id: string } | null;
  search: string | null;
};

/** Newest first; `search` matches substrings of the email or the pending one, case-insensitively. */
export async function listUsers(
  deps: Pick<AuthDeps, 'db'>,
  opts: ListUsersOptions,
): Promise<{ rows: UserPageRow[]; hasNextPage: boolean }> {
  const pattern = opts.search ? `%${opts.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  const rows: UserPageRow[] = await deps.db
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
}
