import { eq, sql } from 'drizzle-orm';
import type { Tx } from '../db/client.js';
import { type UserRow, users } from '../db/schema.js';
import { AuthError } from './errors.js';

/** app_metadata.provider(s), as Supabase keeps them: the first provider and all of them. */
export async function syncProviders(tx: Tx, userId: string): Promise<UserRow> {
  const [user] = await tx
    .update(users)
    .set({
      rawAppMetaData: sql`${users.rawAppMetaData} || (
        select jsonb_build_object('provider', coalesce((array_agg(i.provider order by i.created_at, i.id))[1], 'email'),
                                  'providers', coalesce(jsonb_agg(distinct i.provider), '[]'::jsonb))
        from auth.identities i where i.user_id = ${userId})`,
    })
    .where(eq(users.id, userId))
    .returning();
  if (!user) throw new AuthError('UNAUTHENTICATED');
  return user;
}
