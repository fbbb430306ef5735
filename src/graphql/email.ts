import { AuthPayload, counted } from './auth.js';
import { builder } from './builder.js';

builder.mutationFields((t) => ({
  signInAnonymously: t.field({
    type: AuthPayload,
    description:
      'A new anonymous user (is_anonymous in its claims) with a session; ANONYMOUS_SIGN_IN must be on. ' +
      'updateUser with an email and a password later makes it permanent, data and all.',
    args: { data: t.arg({ type: 'JSON', description: 'User metadata, as in signUp.' }) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'signInAnonymously', () => ctx.auth.signInAnonymously(args.data, ctx.client)),
  }),
  resendConfirmation: t.boolean({
    description: 'Mails a new confirmation link to an unconfirmed address. True whether or not there is one.',
    args: { email: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'resendConfirmation', () => ctx.email.resendConfirmation(args.email, ctx.client)),
  }),
  verifyEmail: t.field({
    type: AuthPayload,
    description: 'The token of a confirmation or email-change link: confirms the address and signs in.',
    args: { token: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => counted(ctx, 'verifyEmail', () => ctx.email.verifyEmail(args.token, ctx.client)),
  }),
  requestPasswordReset: t.boolean({
    description: 'Mails a recovery link if the address has an account. True either way.',
    args: { email: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'requestPasswordReset', () => ctx.email.requestPasswordReset(args.email, ctx.client)),
  }),
  resetPassword: t.field({
    type: AuthPayload,
    description: "A recovery link's token and a new password: ends every session and signs in anew.",
    args: { token: t.arg.string({ required: true }), newPassword: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'resetPassword', () => ctx.email.resetPassword(args.token, args.newPassword, ctx.client)),
  }),
  signInWithOtp: t.boolean({
    description:
      'Mails a sign-in link and a six-digit code (verifyMagicLink / verifyOtp). With createUser an unknown ' +
      'address gets an account. True either way.',
    args: {
      email: t.arg.string({ required: true }),
      createUser: t.arg.boolean({ defaultValue: false }),
    },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'signInWithOtp', () => ctx.email.signInWithOtp(args.email, args.createUser ?? false, ctx.client)),
  }),
  verifyMagicLink: t.field({
    type: AuthPayload,
    args: { token: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'verifyMagicLink', () => ctx.email.verifyMagicLink(args.token, ctx.client)),
  }),
  verifyOtp: t.field({
    type: AuthPayload,
    description: 'The six-digit code of a sign-in mail.',
    args: { email: t.arg.string({ required: true }), code: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'verifyOtp', () => ctx.email.verifyOtp(args.email, args.code, ctx.client)),
  }),
}));
