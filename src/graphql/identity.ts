import type { IdentityView } from '../auth/flows/identities/index.js';
import { isUuid } from '../shared/ids.js';
import { AuthPayload, counted } from './auth.js';
import { builder } from './builder.js';

const Identity = builder.objectRef<IdentityView>('Identity').implement({
  description: 'A way the user signs in: "email" (the password) or a provider that vouches for them.',
  fields: (t) => ({
    id: t.exposeID('id'),
    provider: t.exposeString('provider'),
    providerUserId: t.exposeString('providerId', { description: "The user's id at the provider." }),
    email: t.exposeString('email', { nullable: true, description: 'The email the provider gave, if any.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastSignInAt: t.expose('lastSignInAt', { type: 'DateTime', nullable: true }),
  }),
});

type LinkStart = { provider: string; url: string };
const LinkIdentityPayload = builder.objectRef<LinkStart>('LinkIdentityPayload').implement({
  fields: (t) => ({
    provider: t.exposeString('provider'),
    url: t.exposeString('url', { description: "Open it in the browser: the provider's sign-in page." }),
  }),
});

builder.queryFields((t) => ({
  identities: t.withAuth({ signedIn: true }).field({
    type: [Identity],
    description: "The caller's identities, oldest first.",
    resolve: (_root, _args, ctx) => ctx.identities.list(ctx.viewer.id),
  }),
  authProviders: t.stringList({
    description: 'The OpenID Connect providers one can sign in with: GET /auth/<name>/start.',
    resolve: (_root, _args, ctx) => ctx.oidc.providerNames(),
  }),
}));

builder.mutationFields((t) => ({
  exchangeCode: t.field({
    type: AuthPayload,
    description:
      'Finishes a provider sign-in or link: the one-time code the browser came back with, and the PKCE ' +
      'verifier when the start had a code_challenge. A link needs the bearer token of the user who started it.',
    args: { code: t.arg.string({ required: true }), codeVerifier: t.arg.string() },
    resolve: (_root, args, ctx) =>
      counted(ctx, 'exchangeCode', () =>
        ctx.identities.exchangeCode({ code: args.code, codeVerifier: args.codeVerifier }, ctx.viewer, ctx.client),
      ),
  }),
  linkIdentity: t.withAuth({ signedIn: true }).field({
    type: LinkIdentityPayload,
    description:
      'Starts linking a provider to the caller: open the returned url; the browser comes back to redirectTo ' +
      'with a code that exchangeCode (with this same bearer token) turns into the link.',
    args: {
      provider: t.arg.string({ required: true }),
      redirectTo: t.arg.string(),
      codeChallenge: t.arg.string({ description: 'An S256 PKCE challenge; exchangeCode then needs its verifier.' }),
    },
    resolve: async (_root, args, ctx) => {
      await ctx.auth.requireAal2IfEnrolled(ctx.viewer);
      const url = await ctx.oidc.linkUrl(
        args.provider,
        { redirectTo: args.redirectTo ?? null, codeChallenge: args.codeChallenge ?? null },
        ctx.client,
        ctx.viewer.id,
      );
      return { provider: args.provider, url };
    },
  }),
  unlinkIdentity: t.withAuth({ signedIn: true }).boolean({
    description: 'Removes one of the caller\'s identities, never the last one; unlinking "email" removes the password.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      const id = String(args.id);
      if (!isUuid(id)) return false;
      return ctx.identities.unlink(ctx.viewer, id, ctx.client);
    },
  }),
}));
