import type { EmailChangeStatus as Status } from '../auth/flows/email/index.js';
import { AuthPayload, afterCaptcha, CAPTCHA_TOKEN, counted } from './auth.js';
import { builder } from './builder.js';

const EmailChangeSide = builder.enumType('EmailChangeSide', {
  values: {
    NEW: { description: 'The new address has not used its link yet.' },
    CURRENT: { description: 'The current address has not approved the change yet.' },
  } as const,
});

const EmailChangeStatus = builder.objectRef<Status>('EmailChangeStatus').implement({
  description: 'Where an email change stands after one of its links was used.',
  fields: (t) => ({
    complete: t.exposeBoolean('complete', { description: 'The address changed.' }),
    email: t.exposeString('email', { description: 'The new address.' }),
    awaiting: t.field({
      type: EmailChangeSide,
      nullable: true,
      description: 'Whose link is still missing; null once complete.',
      resolve: (s) => s.awaiting,
    }),
  }),
});

builder.mutationFields((t) => ({
  confirmEmailChange: t.field({
    type: EmailChangeStatus,
    description:
      'The token of an email-change link (type=email_change to the new address, type=email_change_current to ' +
      'the current one). The address changes once both are in (only the new one with SECURE_EMAIL_CHANGE=false); ' +
      'the old address is told. No session is made.',
    args: { token: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'confirmEmailChange', () => ctx.email.confirmEmailChange(args.token, ctx.client)),
  }),
  signInAnonymously: t.field({
    type: AuthPayload,
    description:
      'A new anonymous user (is_anonymous in its claims) with a session; ANONYMOUS_SIGN_IN must be on. ' +
      'updateUser with an email and a password later makes it permanent, data and all.',
    args: {
      data: t.arg({ type: 'JSON', description: 'User metadata, as in signUp.' }),
      captchaToken: t.arg.string(CAPTCHA_TOKEN),
    },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'signInAnonymously', () =>
        afterCaptcha(ctx, args.captchaToken, () => ctx.auth.signInAnonymously(args.data, ctx.client)),
      ),
  }),
  resendConfirmation: t.boolean({
    description: 'Mails a new confirmation link to an unconfirmed address. True whether or not there is one.',
    args: { email: t.arg.string({ required: true }), captchaToken: t.arg.string(CAPTCHA_TOKEN) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'resendConfirmation', () =>
        afterCaptcha(ctx, args.captchaToken, () => ctx.email.resendConfirmation(args.email, ctx.client)),
      ),
  }),
  verifyEmail: t.field({
    type: AuthPayload,
    description:
      "The token of a confirmation link (type=confirmation): the address becomes the account's and the user is " +
      'signed in. Email-change links go to confirmEmailChange.',
    args: { token: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => counted(ctx, 'verifyEmail', () => ctx.email.verifyEmail(args.token, ctx.client)),
  }),
  requestPasswordReset: t.boolean({
    description: 'Mails a recovery link if the address has an account. True either way.',
    args: { email: t.arg.string({ required: true }), captchaToken: t.arg.string(CAPTCHA_TOKEN) },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'requestPasswordReset', () =>
        afterCaptcha(ctx, args.captchaToken, () => ctx.email.requestPasswordReset(args.email, ctx.client)),
      ),
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
      captchaToken: t.arg.string(CAPTCHA_TOKEN),
    },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'signInWithOtp', () =>
        afterCaptcha(ctx, args.captchaToken, () =>
          ctx.email.signInWithOtp(args.email, args.createUser ?? false, ctx.client),
        ),
      ),
  }),
  verifyMagicLink: t.field({
    type: AuthPayload,
    description: 'The token of a sign-in link (signInWithOtp): signs in, once; the link expires.',
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
