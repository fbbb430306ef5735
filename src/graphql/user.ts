import type { UserView } from '../auth/model.js';
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
    resolve: (_root, _args, ctx) => (ctx.viewer ? ctx.loaders.user.load(ctx.viewer.id) : null),
  }),
);
