import { builder } from './builder.js';
import { User } from './user.js';

const UpdateUserInput = builder.inputType('UpdateUserInput', {
  fields: (t) => ({
    email: t.string(),
    password: t.string(),
    currentPassword: t.string({
      description: 'Required with password; with email, it stands in for a recent sign-in.',
    }),
    data: t.field({ type: 'JSON', description: 'Top-level keys merged into user_metadata.' }),
  }),
});

builder.mutationFields((t) => ({
  updateUser: t.withAuth({ signedIn: true }).field({
    type: User,
    description:
      'Changing the password needs currentPassword and ends every other session. A new email needs ' +
      'currentPassword or a recent sign-in (REAUTH_WINDOW_S) and stays pendingEmail until confirmEmailChange. ' +
      'With a verified second factor, any change needs an aal2 session (FORBIDDEN, reason AAL2_REQUIRED).',
    args: { input: t.arg({ type: UpdateUserInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.auth.updateUser(ctx.viewer, input, ctx.client),
  }),
  deleteAccount: t.withAuth({ signedIn: true }).boolean({
    description: "Deletes the caller's account (profile, sessions and tokens with it) after checking the password.",
    args: { password: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => ctx.auth.deleteAccount(ctx.viewer, args.password, ctx.client),
  }),
}));
