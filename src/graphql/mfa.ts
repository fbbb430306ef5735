// TOTP multi-factor fields; the flows are in src/auth/flows/mfa/.
import type {
  MfaActivation as Activation,
  MfaEnrollment as Enrollment,
  MfaCaller,
  MfaFactorView,
} from '../auth/flows/mfa/index.js';
import { AuthPayload, counted } from './auth.js';
import { builder, type NativeSessionContext } from './builder.js';

const MfaFactor = builder.objectRef<MfaFactorView>('MfaFactor').implement({
  description: 'A second factor of the caller: an authenticator app (TOTP).',
  fields: (t) => ({
    id: t.exposeID('id'),
    factorType: t.exposeString('factorType', { description: 'Always "totp".' }),
    friendlyName: t.exposeString('friendlyName', { nullable: true }),
    status: t.exposeString('status', {
      description: 'Either unverified (until mfaActivate accepted a first code) or verified.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const MfaEnrollment = builder.objectRef<Enrollment>('MfaEnrollment').implement({
  description: 'A new factor and its secret, shown this once; mfaActivate with a first code turns it on.',
  fields: (t) => ({
    factorId: t.exposeID('factorId'),
    secret: t.exposeString('secret', { description: 'The TOTP secret in base32, for typing into the app.' }),
    uri: t.exposeString('uri', { description: 'The otpauth:// URI the QR code holds.' }),
    qrCode: t.exposeString('qrCode', { description: 'The URI as a QR code: a data: URL of an SVG image.' }),
  }),
});

const MfaActivation = builder.objectRef<Activation>('MfaActivation').implement({
  fields: (t) => ({
    session: t.field({
      type: AuthPayload,
      description: 'A new token pair for the same session, now aal2.',
      resolve: (a) => a.session,
    }),
    recoveryCodes: t.exposeStringList('recoveryCodes', {
      description: "With the user's first factor, ten single-use recovery codes, shown this once; else empty.",
    }),
  }),
});

/** The caller as the MFA and passkey flows know it: the session of ours that a factor raises. */
export function mfaCaller(ctx: NativeSessionContext): MfaCaller {
  return {
    userId: ctx.viewer.id,
    sessionId: ctx.viewer.sessionId,
    claimAal: ctx.accessClaims?.aal ?? null,
    ip: ctx.client.ip,
    userAgent: ctx.client.userAgent,
  };
}

builder.queryFields((t) => ({
  mfaFactors: t.withAuth({ signedIn: true }).field({
    type: [MfaFactor],
    description: "The caller's second factors, oldest first.",
    resolve: (_root, _args, ctx) => ctx.mfa.factors(ctx.viewer.id),
  }),
}));

builder.mutationFields((t) => {
  const native = t.withAuth({ nativeSession: true });
  return {
    mfaEnroll: native.field({
      type: MfaEnrollment,
      description:
        'Starts adding an authenticator app: scan qrCode (or type secret), then mfaActivate with a code. ' +
        'With a verified factor already, the session must be aal2.',
      args: { friendlyName: t.arg.string() },
      resolve: (_root, args, ctx) => counted(ctx, 'mfaEnroll', () => ctx.mfa.enroll(mfaCaller(ctx), args.friendlyName)),
    }),
    mfaActivate: native.field({
      type: MfaActivation,
      description: "A new factor's first code: verifies the factor and raises this session to aal2.",
      args: { factorId: t.arg.id({ required: true }), code: t.arg.string({ required: true }) },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'mfaActivate', () => ctx.mfa.activate(mfaCaller(ctx), String(args.factorId), args.code)),
    }),
    mfaVerify: native.field({
      type: AuthPayload,
      description:
        'The challenge after signIn when mfaRequired: a code of a verified factor raises the session to aal2.',
      args: { factorId: t.arg.id({ required: true }), code: t.arg.string({ required: true }) },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'mfaVerify', () => ctx.mfa.verify(mfaCaller(ctx), String(args.factorId), args.code)),
    }),
    mfaVerifyRecoveryCode: native.field({
      type: AuthPayload,
      description: 'Spends one recovery code instead of a TOTP code; raises the session to aal2.',
      args: { code: t.arg.string({ required: true }) },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'mfaVerifyRecoveryCode', () => ctx.mfa.verifyRecoveryCode(mfaCaller(ctx), args.code)),
    }),
    mfaUnenroll: native.boolean({
      description:
        'Removes a factor (needs an aal2 session once a factor is verified); the last verified one takes the recovery codes along.',
      args: { factorId: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'mfaUnenroll', () => ctx.mfa.unenroll(mfaCaller(ctx), String(args.factorId))),
    }),
    mfaRegenerateRecoveryCodes: native.stringList({
      description: 'Ten new recovery codes, shown this once; the earlier ones stop working. Needs an aal2 session.',
      resolve: (_root, _args, ctx) =>
        counted(ctx, 'mfaRegenerateRecoveryCodes', () => ctx.mfa.regenerateRecoveryCodes(mfaCaller(ctx))),
    }),
  };
});
