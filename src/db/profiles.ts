import type postgres from 'postgres';
import { PROFILE_COLUMNS } from './loaders.js';
import type { ProfileRow } from './schema.js';

/** A position in a newest-first list: a row's exact created_at text and its id. */
export type Keyset = { createdAt: string; id: string };

/** Up to `first` rows and whether more follow. */
export type Page<Row> = { rows: Row[]; hasNextPage: boolean };

/** The columns of public.profiles a profile change may set. */
export type ProfilePatch = {
  username?: string | null;
  fullName?: string | null;
  avatarUrl?: string | null;
  website?: string | null;
  isPublic?: boolean;
};

const PATCH_COLUMNS: Record<keyof ProfilePatch, string> = {
  username: 'username',
  fullName: 'full_name',
  avatarUrl: 'avatar_url',
  website: 'website',
  isPublic: 'is_public',
};

/**
 * The profiles `sql`'s role may see, newest first, after `after`. Keyset on (created_at, id),
 * served by profiles_created_at_id_idx; RLS filters. The cursor's time goes as text: a
 * timestamptz parameter would pass through a JS Date and lose its microseconds.
 */
export async function profilesPage(sql: postgres.Sql, first: number, after: Keyset | null): Promise<Page<ProfileRow>> {
  const rows = after
    ? await sql<ProfileRow[]>`
        select ${sql.unsafe(PROFILE_COLUMNS)} from public.profiles
        where (created_at, id) < (${after.createdAt}::text::timestamptz, ${after.id}::uuid)
        order by created_at desc, id desc limit ${first + 1}`
    : await sql<ProfileRow[]>`
        select ${sql.unsafe(PROFILE_COLUMNS)} from public.profiles
        order by created_at desc, id desc limit ${first + 1}`;
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

/** The visible profile whose username is `username`, case-insensitively. */
export async function profileByUsername(sql: postgres.Sql, username: string): Promise<ProfileRow | null> {
  const [row] = await sql<ProfileRow[]>`
    select ${sql.unsafe(PROFILE_COLUMNS)} from public.profiles where lower(username) = lower(${username})`;
  return row ?? null;
}

/**
 * Sets `patch` on profile `id` inside the caller's transaction; null when no row changed (a
 * policy refused it). Under a savepoint, so a refused update (a taken username) leaves the
 * transaction usable; the error is rethrown.
 */
export async function updateProfile(sql: postgres.Sql, id: string, patch: ProfilePatch): Promise<ProfileRow | null> {
  const set: Record<string, string | boolean | null> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value !== undefined) set[PATCH_COLUMNS[key as keyof ProfilePatch]] = value;
  }
  const savepoint = sql`savepoint update_profile`.execute();
  try {
    const [row] = await sql<ProfileRow[]>`
      update public.profiles set ${sql(set)} where id = ${id}
      returning ${sql.unsafe(PROFILE_COLUMNS)}`;
    await savepoint;
    return row ?? null;
  } catch (err) {
    await sql`rollback to savepoint update_profile`.catch(() => {});
    throw err;
  }
}
