import { AuthError, badInput } from '../auth/errors.js';
import { toUserView, type UserView } from '../auth/model.js';
import { storable } from '../auth/validate.js';
import type { Context } from '../context.js';
import { isUuid } from '../shared/ids.js';
import { builder } from './builder.js';
import { decodeCursor, encodeCursor, firstArg } from './cursor.js';
import { PageInfo } from './profile.js';
import { User } from './user.js';

type Edge = { cursor: string; node: UserView };

const UserEdge = builder.objectRef<Edge>('UserEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: User, resolve: (e) => e.node }),
  }),
});

const UserConnection = builder
  .objectRef<{ edges: Edge[]; pageInfo: typeof PageInfo.$inferType }>('UserConnection')
  .implement({
    fields: (t) => ({
      edges: t.field({ type: [UserEdge], resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
    }),
  });

const AdminUpdateUserInput = builder.inputType('AdminUpdateUserInput', {
  fields: (t) => ({
    appMetadata: t.field({ type: 'JSON', description: 'Keys merged into app_metadata; a null value removes a key.' }),
    bannedUntil: t.field({ type: 'DateTime', description: 'Banned until then; null lifts a ban.' }),
    emailConfirmed: t.boolean(),
  }),
});

function requireService(ctx: Context): void {
  if (!ctx.service) throw new AuthError('FORBIDDEN', 'Only the service role may do this.');
}

function userId(id: unknown, field = 'id'): string {
  if (!isUuid(id)) throw badInput('Not a user id.', field);
  return id.toLowerCase();
}

builder.queryFields((t) => ({
  users: t.field({
    type: UserConnection,
    description: 'Service role only (FORBIDDEN otherwise). Newest first; search matches emails.',
    args: { first: t.arg.int({ defaultValue: 20 }), after: t.arg.string(), search: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      requireService(ctx);
      const first = firstArg(args.first);
      const after = args.after ? decodeCursor(args.after) : null;
      if (args.search && (args.search.length > 254 || !storable(args.search))) {
        throw badInput('search must be at most 254 characters without NUL.', 'search');
      }
      const { rows, hasNextPage } = await ctx.admin.listUsers({ first, after, search: args.search ?? null });
      const edges = rows.map((r) => ({
        cursor: encodeCursor({ createdAt: r.cursorTs, id: r.id }),
        node: toUserView(r),
      }));
      return {
        edges,
        pageInfo: {
          hasNextPage,
          hasPreviousPage: after !== null,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
  user: t.field({
    type: User,
    nullable: true,
    description: 'Service role only.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      requireService(ctx);
      return isUuid(args.id) ? ctx.admin.getUser(String(args.id).toLowerCase()) : null;
    },
  }),
}));

builder.mutationFields((t) => ({
  adminUpdateUser: t.field({
    type: User,
    description: 'Service role only.',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: AdminUpdateUserInput, required: true }) },
    resolve: (_root, args, ctx) => {
      requireService(ctx);
      return ctx.admin.updateUser(userId(args.id), args.input);
    },
  }),
  adminDeleteUser: t.boolean({
    description: 'Service role only.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      requireService(ctx);
      return ctx.admin.deleteUser(userId(args.id));
    },
  }),
  adminSignOut: t.boolean({
    description: 'Service role only. Ends every session of the user.',
    args: { userId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      requireService(ctx);
      return ctx.admin.signOutUser(userId(args.userId, 'userId'));
    },
  }),
}));
