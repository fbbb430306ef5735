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
  const users = new Map<string, DataLoader<string, VisibleUser | null>>();
  /**
   * The caller's user row with only `fields` read: `me { id email }` needs neither the
   * metadata's jsonb nor the timestamps, and decoding them was most of what the driver
   * did for such a request. One loader per set of fields, so each batch is one query.
   */
  const userWith = (fields: readonly UserField[]): DataLoader<string, VisibleUser | null> => {
    const list = userSelectList(fields);
    let loader = users.get(list);
    if (loader === undefined) {
      loader = new DataLoader<string, VisibleUser | null>(async (ids) => {
        const sql = await tx.sql();
        // Only the fields asked for are present: the resolvers of the others are not run.
        // prepare: named once per connection; postgres.js still leaves it unnamed when the
        // pool was made with prepare off (behind a pooler that cannot carry it).
        const rows = await sql.unsafe<VisibleUser[]>(list, [ids as string[]], { prepare: true });
        const byId = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => byId.get(id) ?? null);
      });
      users.set(list, loader);
    }
    return loader;
  };
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
    /** The whole user row. */
    get user() {
      return userWith(ALL_USER_FIELDS);
    },
    userWith,
  };
}

export type UserField = keyof VisibleUser;

const USER_COLUMNS: Record<UserField, string> = {
  id: 'id',
  email: `coalesce(email, '') as email`,
  role: 'role',
  createdAt: 'created_at::text as "createdAt"',
  lastSignInAt: 'last_sign_in_at::text as "lastSignInAt"',
  userMetadata: 'user_metadata as "userMetadata"',
  appMetadata: 'app_metadata as "appMetadata"',
  emailConfirmedAt: 'email_confirmed_at::text as "emailConfirmedAt"',
  isAnonymous: 'is_anonymous as "isAnonymous"',
  pendingEmail: 'pending_email as "pendingEmail"',
};

export const ALL_USER_FIELDS = Object.keys(USER_COLUMNS) as UserField[];

export function isUserField(name: string): name is UserField {
  return Object.hasOwn(USER_COLUMNS, name);
}

// One statement text per set of fields, at most 2^10 of them (in practice a handful), so
// postgres.js prepares each once per connection.
const selectLists = new Map<number, string>();

function userSelectList(fields: readonly UserField[]): string {
  let mask = 1; // id, always: the loader finds rows by it
  for (const f of fields) mask |= 1 << ALL_USER_FIELDS.indexOf(f);
  let text = selectLists.get(mask);
  if (text === undefined) {
    const columns = ALL_USER_FIELDS.filter((_, i) => mask & (1 << i)).map((f) => USER_COLUMNS[f]);
    text = `select ${columns.join(', ')} from auth.visible_users($1::uuid[])`;
    selectLists.set(mask, text);
  }
  return text;
}

/** public.profiles as ProfileRow; timestamps as Postgres text so cursors keep microseconds. */
export const PROFILE_COLUMNS = `id, username, full_name as "fullName", avatar_url as "avatarUrl", website,
  is_public as "isPublic", created_at::text as "createdAt", updated_at::text as "updatedAt"`;
