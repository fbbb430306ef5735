import type { FieldNode, GraphQLResolveInfo, SelectionSetNode } from 'graphql';
import type { UserView } from '../auth/model.js';
import { ALL_USER_FIELDS, isUserField, type UserField } from '../db/loaders.js';
import { builder } from './builder.js';
import { Profile } from './profile.js';

export const User = builder.objectRef<UserView>('User').implement({
  description: 'An account. Callers see their own; the service role sees all.',
  fields: (t) => ({
    id: t.exposeID('id'),
    email: t.exposeString('email'),
    role: t.exposeString('role'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastSignInAt: t.expose('lastSignInAt', { type: 'DateTime', nullable: true }),
    userMetadata: t.expose('userMetadata', { type: 'JSON' }),
    appMetadata: t.expose('appMetadata', { type: 'JSON' }),
    emailConfirmedAt: t.expose('emailConfirmedAt', { type: 'DateTime', nullable: true }),
    pendingEmail: t.exposeString('pendingEmail', {
      nullable: true,
      description:
        'An address given but not proven yet (a registration, a first address, an email change): it is in no ' +
        'token and holds nothing until the link mailed to it is used.',
    }),
    isAnonymous: t.exposeBoolean('isAnonymous', {
      description: 'Signed in anonymously and not yet upgraded with an email and a password.',
    }),
    profile: t.field({
      type: Profile,
      nullable: true,
      resolve: (user, _args, ctx) =>
        user.preloadedProfile !== undefined ? user.preloadedProfile : ctx.loaders.profile.load(user.id),
    }),
  }),
});

builder.queryField('me', (t) =>
  t.field({
    type: User,
    nullable: true,
    description: 'The caller, or null when the request carries no valid access token.',
    resolve: (_root, _args, ctx, info) =>
      ctx.viewer ? ctx.loaders.userWith(userFieldsOf(info)).load(ctx.viewer.id) : null,
  }),
);

// A document is parsed once and cached, so its `me` node stands for the same selection
// every time it runs.
const fieldsOfNode = new WeakMap<FieldNode, readonly UserField[]>();

/**
 * The columns of the user row that `me`'s selection reads. A field of User that is not a
 * column of ours (an app's own field on User, whose resolver may read anything) needs the
 * whole row. @skip and @include are ignored: reading a column too many is harmless.
 */
function userFieldsOf(info: GraphQLResolveInfo): readonly UserField[] {
  // Several nodes for `me` merge; which of them run can depend on variables, so only a
  // lone node is remembered.
  const [only] = info.fieldNodes;
  const cached = info.fieldNodes.length === 1 && only ? fieldsOfNode.get(only) : undefined;
  if (cached) return cached;
  const fields = new Set<UserField>();
  let whole = false;
  const visit = (set: SelectionSetNode | undefined, seen: Set<string>) => {
    for (const s of set?.selections ?? []) {
      if (s.kind === 'Field') {
        const name = s.name.value;
        if (isUserField(name)) fields.add(name);
        else if (name !== 'profile' && name !== '__typename') whole = true;
      } else if (s.kind === 'InlineFragment') visit(s.selectionSet, seen);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        visit(info.fragments[s.name.value]?.selectionSet, seen);
      }
    }
  };
  for (const node of info.fieldNodes) visit(node.selectionSet, new Set());
  const result = whole ? ALL_USER_FIELDS : [...fields];
  if (info.fieldNodes.length === 1 && only) fieldsOfNode.set(only, result);
  return result;
}
