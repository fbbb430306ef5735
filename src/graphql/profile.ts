import { AuthError, badInput, isUniqueViolation } from '../auth/errors.js';
import { checkText, checkUrl, checkUsername, USERNAME } from '../auth/validate.js';
import { PROFILE_COLUMNS } from '../db/loaders.js';
import type { ProfileRow } from '../db/schema.js';
import { isUuid } from '../shared/ids.js';
import { builder } from './builder.js';
import { decodeCursor, encodeCursor, firstArg } from './cursor.js';

export const Profile = builder.objectRef<ProfileRow>('Profile').implement({
  description: "A user's public face. Row level security decides who sees it.",
  fields: (t) => ({
    id: t.exposeID('id', { description: "Equals the owning user's id." }),
    username: t.exposeString('username', { nullable: true }),
    fullName: t.exposeString('fullName', { nullable: true }),
    avatarUrl: t.exposeString('avatarUrl', { nullable: true }),
    website: t.exposeString('website', { nullable: true }),
    isPublic: t.exposeBoolean('isPublic'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

type PageInfoShape = {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
};
type Edge = { cursor: string; node: ProfileRow };

export const PageInfo = builder.objectRef<PageInfoShape>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

const ProfileEdge = builder.objectRef<Edge>('ProfileEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: Profile, resolve: (e) => e.node }),
  }),
});

const ProfileConnection = builder.objectRef<{ edges: Edge[]; pageInfo: PageInfoShape }>('ProfileConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [ProfileEdge], resolve: (c) => c.edges }),
    pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
  }),
});

builder.queryField('profiles', (t) =>
  t.field({
    type: ProfileConnection,
    description: 'Profiles the caller may see under row level security, newest first.',
    args: {
      first: t.arg.int({ defaultValue: 20 }),
      after: t.arg.string(),
    },
    resolve: async (_root, args, ctx) => {
      const first = firstArg(args.first);
      const after = args.after ? decodeCursor(args.after) : null;
      const sql = await ctx.tx.sql();
      // Keyset on (created_at, id), served by profiles_created_at_id_idx; RLS filters. The
      // cursor's time goes as text: a timestamptz parameter would pass through a JS Date and
      // lose its microseconds.
      const rows = after
        ? await sql<ProfileRow[]>`
            select ${sql.unsafe(PROFILE_COLUMNS)} from public.profiles
            where (created_at, id) < (${after.createdAt}::text::timestamptz, ${after.id}::uuid)
            order by created_at desc, id desc limit ${first + 1}`
        : await sql<ProfileRow[]>`
            select ${sql.unsafe(PROFILE_COLUMNS)} from public.profiles
            order by created_at desc, id desc limit ${first + 1}`;
      const page = rows.slice(0, first);
      for (const row of page) ctx.loaders.profile.prime(row.id, row);
      const edges = page.map((node) => ({ cursor: encodeCursor(node), node }));
      return {
        edges,
        pageInfo: {
          hasNextPage: rows.length > first,
          // Forward paging only: there are rows before `after` by construction.
          hasPreviousPage: after !== null,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
);

builder.queryField('profile', (t) =>
  t.field({
    type: Profile,
    nullable: true,
    description: 'One profile by id or by username (exactly one of them), or null when hidden or absent.',
    args: { id: t.arg.id(), username: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const hasId = args.id !== null && args.id !== undefined;
      const hasName = args.username !== null && args.username !== undefined;
      if (hasId === hasName) throw badInput('Give exactly one of id and username.');
      if (hasId) return isUuid(args.id) ? ctx.loaders.profile.load(String(args.id).toLowerCase()) : null;
      const username = String(args.username);
      if (!USERNAME.test(username)) return null;
      const sql = await ctx.tx.sql();
      const [row] = await sql<ProfileRow[]>`
        select ${sql.unsafe(PROFILE_COLUMNS)} from public.profiles where lower(username) = lower(${username})`;
      return row ?? null;
    },
  }),
);

const UpdateProfileInput = builder.inputType('UpdateProfileInput', {
  fields: (t) => ({
    username: t.string(),
    fullName: t.string(),
    avatarUrl: t.string(),
    website: t.string(),
    isPublic: t.boolean(),
  }),
});

builder.mutationField('updateProfile', (t) =>
  t.field({
    type: Profile,
    description: "Updates the caller's own profile; fields left out stay as they are.",
    args: { input: t.arg({ type: UpdateProfileInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const viewer = ctx.viewer;
      if (!viewer) throw new AuthError('UNAUTHENTICATED');
      const set: Record<string, string | boolean | null> = {};
      // An explicit null clears a field; a field left out stays.
      if (input.username !== undefined) set.username = input.username === null ? null : checkUsername(input.username);
      if (input.fullName !== undefined)
        set.full_name = input.fullName === null ? null : checkText(input.fullName, 'fullName');
      if (input.avatarUrl !== undefined)
        set.avatar_url = input.avatarUrl === null ? null : checkUrl(input.avatarUrl, 'avatarUrl');
      if (input.website !== undefined) set.website = input.website === null ? null : checkUrl(input.website, 'website');
      if (input.isPublic !== undefined) {
        if (input.isPublic === null) throw badInput('isPublic cannot be null.', 'isPublic');
        set.is_public = input.isPublic;
      }
      if (Object.keys(set).length === 0) {
        const current = await ctx.loaders.profile.load(viewer.id);
        if (!current) throw new AuthError('UNAUTHENTICATED');
        return current;
      }
      const sql = await ctx.tx.sql();
      // A savepoint, so a refused update leaves the request's transaction usable.
      const savepoint = sql`savepoint update_profile`.execute();
      try {
        const [row] = await sql<ProfileRow[]>`
          update public.profiles set ${sql(set)} where id = ${viewer.id}
          returning ${sql.unsafe(PROFILE_COLUMNS)}`;
        await savepoint;
        // Signed in (the identity statement passed), yet no row: a policy refused it.
        if (!row) throw new AuthError('FORBIDDEN', 'Row level security refused the update.');
        ctx.loaders.profile.clear(row.id).prime(row.id, row);
        return row;
      } catch (err) {
        await sql`rollback to savepoint update_profile`.catch(() => {});
        if (isUniqueViolation(err, 'profiles_username_key')) throw new AuthError('USERNAME_TAKEN');
        throw err;
      }
    },
  }),
);
