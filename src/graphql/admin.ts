import { badInput } from '../auth/errors.js';
import { toUserView } from '../auth/model.js';
import { storable } from '../auth/validate.js';
import { isUuid } from '../shared/ids.js';
import { builder } from './builder.js';
import { connectionType, keysetPage, pageArgs } from './connection.js';
import { User } from './user.js';

const UserConnection = connectionType('User', User);

const AdminUpdateUserInput = builder.inputType('AdminUpdateUserInput', {
  fields: (t) => ({
    appMetadata: t.field({ type: 'JSON', description: 'Keys merged into app_metadata; a null value removes a key.' }),
    bannedUntil: t.field({ type: 'DateTime', description: 'Banned until then; null lifts a ban.' }),
    emailConfirmed: t.boolean(),
  }),
});

function userId(id: unknown, field = 'id'): string {
  if (!isUuid(id)) throw badInput('Not a user id.', field);
  return id.toLowerCase();
}

builder.queryFields((t) => {
  const service = t.withAuth({ serviceRole: true });
  return {
    users: service.field({
      type: UserConnection,
      description: 'Service role only (FORBIDDEN otherwise). Newest first; search matches emails.',
      args: { ...pageArgs(t.arg), search: t.arg.string() },
      // Denied with a rejection, as when the check sat in an async resolver: which error a
      // query with several failing fields reports stays the same.
      unauthorizedResolver: (_root, _args, _ctx, _info, error) => Promise.reject(error),
      resolve: (_root, args, ctx) =>
        keysetPage(
          args,
          (first, after) => {
            if (args.search && (args.search.length > 254 || !storable(args.search))) {
              throw badInput('search must be at most 254 characters without NUL.', 'search');
            }
            return ctx.admin.listUsers({ first, after, search: args.search ?? null });
          },
          (row) => ({ key: { createdAt: row.cursorTs, id: row.id }, node: toUserView(row) }),
        ),
    }),
    user: service.field({
      type: User,
      nullable: true,
      description: 'Service role only.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => (isUuid(args.id) ? ctx.admin.getUser(String(args.id).toLowerCase()) : null),
    }),
  };
});

builder.mutationFields((t) => {
  const service = t.withAuth({ serviceRole: true });
  return {
    adminUpdateUser: service.field({
      type: User,
      description: 'Service role only.',
      args: { id: t.arg.id({ required: true }), input: t.arg({ type: AdminUpdateUserInput, required: true }) },
      resolve: (_root, args, ctx) => ctx.admin.updateUser(userId(args.id), args.input, ctx.client),
    }),
    adminDeleteUser: service.boolean({
      description: 'Service role only.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => ctx.admin.deleteUser(userId(args.id), ctx.client),
    }),
    adminSignOut: service.boolean({
      description: 'Service role only. Ends every session of the user.',
      args: { userId: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => ctx.admin.signOutUser(userId(args.userId, 'userId'), ctx.client),
    }),
  };
});
