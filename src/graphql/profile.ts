import { AuthError, badInput, isUniqueViolation } from '../auth/errors.js';
import { checkText, checkUrl, checkUsername, USERNAME } from '../auth/validate.js';
import { type ProfilePatch, profileByUsername, profilesPage, updateProfile } from '../db/profiles.js';
import type { ProfileRow } from '../db/schema.js';
import { isUuid } from '../shared/ids.js';
import { builder } from './builder.js';
import { connectionType, keysetPage, pageArgs } from './connection.js';

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

const ProfileConnection = connectionType('Profile', Profile);

builder.queryField('profiles', (t) =>
  t.field({
    type: ProfileConnection,
    description: 'Profiles the caller may see under row level security, newest first.',
    args: pageArgs(t.arg),
    resolve: (_root, args, ctx) =>
      keysetPage(
        args,
        async (first, after) => {
          const page = await profilesPage(await ctx.tx.sql(), first, after);
          for (const row of page.rows) ctx.loaders.profile.prime(row.id, row);
          return page;
        },
        (row) => ({ key: row, node: row }),
      ),
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
      return profileByUsername(await ctx.tx.sql(), username);
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
  t.withAuth({ signedIn: true }).field({
    type: Profile,
    description: "Updates the caller's own profile; fields left out stay as they are.",
    args: { input: t.arg({ type: UpdateProfileInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const patch: ProfilePatch = {};
      // An explicit null clears a field; a field left out stays.
      if (input.username !== undefined) patch.username = input.username === null ? null : checkUsername(input.username);
      if (input.fullName !== undefined)
        patch.fullName = input.fullName === null ? null : checkText(input.fullName, 'fullName');
      if (input.avatarUrl !== undefined)
        patch.avatarUrl = input.avatarUrl === null ? null : checkUrl(input.avatarUrl, 'avatarUrl');
      if (input.website !== undefined)
        patch.website = input.website === null ? null : checkUrl(input.website, 'website');
      if (input.isPublic !== undefined) {
        if (input.isPublic === null) throw badInput('isPublic cannot be null.', 'isPublic');
        patch.isPublic = input.isPublic;
      }
      if (Object.keys(patch).length === 0) {
        const current = await ctx.loaders.profile.load(ctx.viewer.id);
        if (!current) throw new AuthError('UNAUTHENTICATED');
        return current;
      }
      let row: ProfileRow | null;
      try {
        row = await updateProfile(await ctx.tx.sql(), ctx.viewer.id, patch);
      } catch (err) {
        if (isUniqueViolation(err, 'profiles_username_key')) throw new AuthError('USERNAME_TAKEN');
        throw err;
      }
      // Signed in (the identity statement passed), yet no row: a policy refused it.
      if (!row) throw new AuthError('FORBIDDEN', 'Row level security refused the update.');
      ctx.loaders.profile.clear(row.id).prime(row.id, row);
      return row;
    },
  }),
);
