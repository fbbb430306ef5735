import { AuthError } from '../auth/errors.js';
import type { AuthPayload as Payload, SignUpResult as Result } from '../auth/model.js';
import type { Context } from '../context.js';
import { builder } from './builder.js';
import { refreshWithCookie, signOutWithCookie } from './refresh-token-cookie.js';
import { User } from './user.js';

export const AuthPayload = builder.objectRef<Payload>('AuthPayload').implement({
  fields: (t) => ({
    accessToken: t.exposeString('accessToken'),
    refreshToken: t.exposeString('refreshToken'),
    tokenType: t.exposeString('tokenType', { description: 'Always "bearer".' }),
    expiresIn: t.exposeInt('expiresIn', { description: 'Seconds until the access token expires.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'When the access token expires.' }),
    aal: t.exposeString('aal', {
      description: 'The assurance level of the session: aal1, or aal2 after a second factor.',
    }),
    mfaRequired: t.exposeBoolean('mfaRequired', {
      description: 'The user has a verified second factor this session has not passed yet (mfaVerify).',
    }),
    user: t.field({ type: User, resolve: (p) => p.user }),
  }),
});

const SignUpInput = builder.inputType('SignUpInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ required: true }),
    data: t.field({
      type: 'JSON',
      description: 'User metadata, stored as user_metadata; username, full_name, avatar_url, website seed the profile.',
    }),
  }),
});

const SignUpResult = builder.objectRef<Result>('SignUpResult').implement({
  description: "register's answer: a session, or the user alone while the email awaits confirmation.",
  fields: (t) => ({
    user: t.field({ type: User, resolve: (r) => r.user }),
    session: t.field({ type: AuthPayload, nullable: true, resolve: (r) => r.session }),
    confirmationRequired: t.exposeBoolean('confirmationRequired', {
      description: 'A confirmation link was mailed; verifyEmail(token) then signs the user in.',
    }),
  }),
});

const SignInInput = builder.inputType('SignInInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ required: true }),
  }),
});

const SignOutScope = builder.enumType('SignOutScope', {
  values: {
    LOCAL: { description: 'This session.' },
    GLOBAL: { description: 'Every session of the user.' },
    OTHERS: { description: 'Every session of the user but this one.' },
  } as const,
});

builder.mutationFields((t) => ({
  signUp: t.field({
    type: AuthPayload,
    description:
      'Creates a user with an email and a password (and profile fields in input.data) and signs them in: ' +
      'an access token and a refresh token. With REQUIRE_EMAIL_CONFIRMATION it is FORBIDDEN ' +
      '(reason EMAIL_CONFIRMATION_REQUIRED): use register.',
    args: { input: t.arg({ type: SignUpInput, required: true }), captchaToken: t.arg.string(CAPTCHA_TOKEN) },
    resolve: (_root, { input, captchaToken }, ctx) =>
      counted(ctx, 'signUp', () => afterCaptcha(ctx, captchaToken, () => ctx.auth.signUp(input, ctx.client))),
  }),
  register: t.field({
    type: SignUpResult,
    description:
      'Sign-up that works whether or not emails must be confirmed first (REQUIRE_EMAIL_CONFIRMATION): ' +
      'without confirmation it is signUp; with it, the user is created, a link is mailed and no session starts.',
    args: { input: t.arg({ type: SignUpInput, required: true }), captchaToken: t.arg.string(CAPTCHA_TOKEN) },
    resolve: (_root, { input, captchaToken }, ctx) =>
      counted(ctx, 'register', () => afterCaptcha(ctx, captchaToken, () => ctx.auth.register(input, ctx.client))),
  }),
  signIn: t.field({
    type: AuthPayload,
    description:
      'Signs in with an email and a password: an access token (send it as Authorization: Bearer) and a refresh ' +
      'token (spend it with refresh). With a verified factor the session is aal1 until mfaVerify.',
    args: { input: t.arg({ type: SignInInput, required: true }), captchaToken: t.arg.string(CAPTCHA_TOKEN) },
    resolve: (_root, { input, captchaToken }, ctx) =>
      counted(ctx, 'signIn', () => afterCaptcha(ctx, captchaToken, () => ctx.auth.signIn(input, ctx.client))),
  }),
  refresh: t.field({
    type: AuthPayload,
    description: 'Exchanges a refresh token for a new pair; the old refresh token is spent.',
    args: { refreshToken: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => counted(ctx, 'refresh', () => refreshWithCookie(ctx, args.refreshToken)),
  }),
  // Not withAuth({ signedIn }): in cookie mode the refresh-token cookie alone may name the session.
  signOut: t.boolean({
    description: "Ends the caller's session (LOCAL), all of the user's sessions (GLOBAL) or all but this one (OTHERS).",
    args: { scope: t.arg({ type: SignOutScope, defaultValue: 'LOCAL' }) },
    resolve: (_root, args, ctx) => counted(ctx, 'signOut', () => signOutWithCookie(ctx, args.scope ?? 'LOCAL')),
  }),
}));

/** The argument of the flows bots target; what the client's CAPTCHA widget returned. */
export const CAPTCHA_TOKEN = {
  description:
    'The token of a solved CAPTCHA (Cloudflare Turnstile or hCaptcha). Required when the gateway runs with ' +
    'CAPTCHA_PROVIDER (FORBIDDEN, reason CAPTCHA_FAILED without it); ignored otherwise.',
} as const;

/** Runs a flow bots target once the CAPTCHA, if the gateway requires one, is confirmed: before any other work. */
export async function afterCaptcha<T>(
  ctx: Context,
  token: string | null | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  await ctx.captcha.verify(token, ctx.client.ip);
  return fn();
}

/** Runs an auth use case and counts its outcome (ok or the error code) in the metrics. */
export async function counted<T>(ctx: Context, event: string, fn: () => Promise<T>): Promise<T> {
  try {
    const result = await fn();
    ctx.metrics.authEvent(event, 'ok');
    return result;
  } catch (err) {
    ctx.metrics.authEvent(event, err instanceof AuthError ? err.code : 'error');
    throw err;
  }
}
