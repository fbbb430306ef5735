// Passkey (WebAuthn) fields; the flows are in src/auth/flows/passkeys/, the guide docs/passkeys.md.

import { badInput } from '../auth/errors.js';
import type {
  PasskeyView,
  PasskeyRegistration as Registration,
  PasskeySignInOptions as SignInOptions,
} from '../auth/flows/passkeys/index.js';
import { isUuid } from '../shared/ids.js';
import { AuthPayload, counted } from './auth.js';
import { builder } from './builder.js';
import { mfaCaller as caller } from './mfa.js';

export const Passkey = builder.objectRef<PasskeyView>('Passkey').implement({
  description: 'A passkey (WebAuthn credential) of a user: it signs in on its own at aal2, or is a second factor.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    transports: t.exposeStringList('transports', {
      description: 'How the browser reaches the authenticator (internal, hybrid, usb…), as it reported.',
    }),
    deviceType: t.exposeString('deviceType', {
      description: 'singleDevice (bound to one authenticator) or multiDevice (synced, e.g. by a password manager).',
    }),
    backedUp: t.exposeBoolean('backedUp', { description: 'The authenticator said the key is backed up (synced).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
  }),
});

const PasskeyRegistration = builder.objectRef<Registration>('PasskeyRegistration').implement({
  fields: (t) => ({
    passkey: t.field({ type: Passkey, resolve: (r) => r.passkey }),
    recoveryCodes: t.exposeStringList('recoveryCodes', {
      description:
        'When the user had no unspent recovery codes (a first factor), ten single-use codes, shown this once; else empty.',
    }),
  }),
});

const PasskeySignInOptions = builder.objectRef<SignInOptions>('PasskeySignInOptions').implement({
  description: 'A passkey sign-in ceremony: pass options to navigator.credentials.get, then signInWithPasskey.',
  fields: (t) => ({
    flowId: t.exposeID('flowId', {
      description: 'Names this ceremony in signInWithPasskey; good for 5 minutes, once.',
    }),
    options: t.field({
      type: 'JSON',
      description: 'PublicKeyCredentialRequestOptionsJSON (PublicKeyCredential.parseRequestOptionsFromJSON takes it).',
      resolve: (o) => o.options,
    }),
  }),
});

const RESPONSE_DESCRIPTION = 'The credential as PublicKeyCredential.toJSON() gives it.';

builder.queryFields((t) => ({
  passkeys: t.withAuth({ nativeSession: true }).field({
    type: [Passkey],
    description: "The caller's passkeys, oldest first.",
    resolve: (_root, _args, ctx) => ctx.passkeys.list(ctx.viewer.id),
  }),
}));

builder.mutationFields((t) => {
  const native = t.withAuth({ nativeSession: true });
  return {
    passkeyRegistrationOptions: native.field({
      type: 'JSON',
      description:
        'Options for navigator.credentials.create (PublicKeyCredentialCreationOptionsJSON), bound to this session ' +
        'for 5 minutes; then registerPasskey. With a factor or passkey already, the session must be aal2.',
      resolve: (_root, _args, ctx) =>
        counted(ctx, 'passkeyRegistrationOptions', () => ctx.passkeys.registrationOptions(caller(ctx))),
    }),
    registerPasskey: native.field({
      type: PasskeyRegistration,
      description: "Verifies the browser's new credential against this session's options and stores it.",
      args: {
        response: t.arg({ type: 'JSON', required: true, description: RESPONSE_DESCRIPTION }),
        name: t.arg.string({ description: 'A label for the user (1-64 characters); default "Passkey".' }),
      },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'registerPasskey', () => ctx.passkeys.register(caller(ctx), args.response, args.name)),
    }),
    renamePasskey: native.field({
      type: Passkey,
      description: "A new label (1-64 characters) for one of the caller's passkeys.",
      args: { id: t.arg.id({ required: true }), name: t.arg.string({ required: true }) },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'renamePasskey', () => ctx.passkeys.rename(caller(ctx), String(args.id), args.name)),
    }),
    deletePasskey: native.boolean({
      description: 'Removes a passkey of the caller; a passkey is a factor, so this needs an aal2 session.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'deletePasskey', () => ctx.passkeys.delete(caller(ctx), String(args.id))),
    }),
    passkeySignInOptions: t.field({
      type: PasskeySignInOptions,
      description: 'Starts a sign-in with a passkey alone (no email typed): discoverable credentials.',
      resolve: (_root, _args, ctx) =>
        counted(ctx, 'passkeySignInOptions', () => ctx.passkeys.signInOptions(ctx.client)),
    }),
    signInWithPasskey: t.field({
      type: AuthPayload,
      description:
        'Signs in with the assertion navigator.credentials.get gave for passkeySignInOptions: a new session at aal2 ' +
        '(amr passkey). Each flowId is answered once.',
      args: {
        flowId: t.arg.id({ required: true }),
        response: t.arg({ type: 'JSON', required: true, description: RESPONSE_DESCRIPTION }),
      },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'signInWithPasskey', () => ctx.passkeys.signIn(String(args.flowId), args.response, ctx.client)),
    }),
    passkeyVerifyOptions: native.field({
      type: 'JSON',
      description:
        "Options for navigator.credentials.get naming the caller's passkeys, bound to this session for 5 minutes; " +
        'then verifyPasskey.',
      resolve: (_root, _args, ctx) =>
        counted(ctx, 'passkeyVerifyOptions', () => ctx.passkeys.stepUpOptions(caller(ctx))),
    }),
    verifyPasskey: native.field({
      type: AuthPayload,
      description: 'A passkey as the second factor: raises this session to aal2, as mfaVerify does with a code.',
      args: { response: t.arg({ type: 'JSON', required: true, description: RESPONSE_DESCRIPTION }) },
      resolve: (_root, args, ctx) =>
        counted(ctx, 'verifyPasskey', () => ctx.passkeys.verify(caller(ctx), args.response)),
    }),
  };
});

function uuidArg(id: unknown, field: string): string {
  if (!isUuid(id)) throw badInput(`Not an id.`, field);
  return id.toLowerCase();
}

builder.queryFields((t) => ({
  adminPasskeys: t.withAuth({ serviceRole: true }).field({
    type: [Passkey],
    description: "Service role only. A user's passkeys, oldest first.",
    args: { userId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.admin.listPasskeys(uuidArg(args.userId, 'userId')),
  }),
}));

builder.mutationFields((t) => ({
  adminDeletePasskey: t.withAuth({ serviceRole: true }).boolean({
    description: "Service role only. Removes a user's passkey; false when the user has no such passkey.",
    args: { userId: t.arg.id({ required: true }), id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.admin.deletePasskey(uuidArg(args.userId, 'userId'), uuidArg(args.id, 'id')),
  }),
}));
