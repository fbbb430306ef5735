import DataLoader from 'dataloader';
import type { RequestTx } from './rls.js';
import type { ProfileRow } from './schema.js';

/** The caller's own user row as auth.visible_users shows it (timestamps as text). */
export type VisibleUser = {
  id: string;
  email: string;
  role: string;
  createdAt: string;
  lastSignInAt: string | null;
  userMetadata: Record<string, unknown>;
  appMetadata: Record<string, unknown>;
  emailConfirmedAt: string | null;
  isAnonymous: boolean;
  pendingEmail: string | null;
};

export type Loaders = ReturnType<typeof createLoaders>;

/**
 * Per-request batching: every nested lookup of a request is one query per kind. Each loader
 * is made on first use: most requests read one kind of row or none.
 */
export function createLoaders(tx: RequestTx) {
  let profile: DataLoader<string, ProfileRow | null> | undefined;
  let user: DataLoader<string, VisibleUser | null> | undefined;
  return {
    get profile() {
      profile ??= new DataLoader<string, ProfileRow | null>(async (ids) => {
        const sql = await tx.sql();
        const rows = await sql<ProfileRow[]>`
          select ${sql.unsafe(PROFILE_COLUMNS)} from public.profiles where id = any(${ids as string[]}::uuid[])`;
        const byId = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => byId.get(id) ?? null);
      });
      return profile;
    },
    get user() {
      user ??= new DataLoader<string, VisibleUser | null>(async (ids) => {
        const sql = await tx.sql();
        const rows = await sql<VisibleUser[]>`
          select id, coalesce(email, '') as email, role, created_at::text as "createdAt", last_sign_in_at::text as "lastSignInAt",
                 user_metadata as "userMetadata", app_metadata as "appMetadata",
                 email_confirmed_at::text as "emailConfirmedAt", is_anonymous as "isAnonymous",
                 pending_email as "pendingEmail"
          from auth.visible_users(${ids as string[]}::uuid[])`;
        const byId = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => byId.get(id) ?? null);
      });
      return user;
    },
  };
}

/** public.profiles as ProfileRow; timestamps as Postgres text so cursors keep microseconds. */
export const PROFILE_COLUMNS = `id, username, full_name as "fullName", avatar_url as "avatarUrl", website,
  is_public as "isPublic", created_at::text as "createdAt", updated_at::text as "updatedAt"`;
