import { defaultFieldResolver, type GraphQLSchema, getNamedType, getNullableType, isObjectType } from 'graphql';
import { AuthError } from '../auth/errors.js';
import type { AuthPayload, SignOutScope } from '../auth/model.js';
import type { Context } from '../context.js';

// Cookie mode (REFRESH_TOKEN_COOKIE=on, docs/cookie-sessions.md): the refresh token travels in
// an HttpOnly cookie, out of reach of the page's scripts, and never in a body.

/**
 * Wraps the resolver of every field typed AuthPayload, wherever it is (signIn, refresh,
 * register's session, mfaActivate's session, an app's own fields…): in cookie mode the
 * payload's refresh token goes to the answer's Set-Cookie and its body field is "". Done on the
 * field that yields the payload rather than on AuthPayload.refreshToken, so the cookie is set
 * whatever the client selected. Both the yoga path and known documents run this schema.
 */
export function refreshTokensInCookie(schema: GraphQLSchema): GraphQLSchema {
  const authPayload = schema.getType('AuthPayload');
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (getNamedType(field.type) !== authPayload) continue;
      if (getNullableType(field.type) !== authPayload) {
        throw new Error(
          `${type.name}.${field.name}: an answer has one refresh-token cookie, so no list of AuthPayload`,
        );
      }
      const resolve = field.resolve ?? defaultFieldResolver;
      field.resolve = async (source, args, ctx: Context, info) => {
        const payload = (await resolve(source, args, ctx, info)) as AuthPayload | null | undefined;
        if (!payload || !ctx.refreshTokenCookie) return payload;
        ctx.refreshTokenCookie.issue(payload.refreshToken);
        return { ...payload, refreshToken: '' };
      };
    }
  }
  return schema;
}

/**
 * refresh: in cookie mode an empty argument means the cookie's token. A cookie's token refused
 * as INVALID_REFRESH_TOKEN clears the cookie (it will never work again); a token given as the
 * argument leaves the cookie alone, since it may not be the cookie's.
 */
export async function refreshWithCookie(ctx: Context, argument: string): Promise<AuthPayload> {
  const cookie = ctx.refreshTokenCookie;
  const fromCookie = cookie !== null && argument === '';
  try {
    return await ctx.auth.refresh(fromCookie ? (cookie.presented ?? '') : argument, ctx.client);
  } catch (err) {
    if (fromCookie && err instanceof AuthError && err.code === 'INVALID_REFRESH_TOKEN') cookie.clear();
    throw err;
  }
}

/**
 * signOut: the bearer token's session as always; in cookie mode, without a bearer token, the
 * session of the cookie's refresh token (a browser whose access token has expired can still
 * sign out). Either way the cookie is cleared.
 */
export async function signOutWithCookie(ctx: Context, scope: SignOutScope): Promise<boolean> {
  const cookie = ctx.refreshTokenCookie;
  cookie?.clear();
  if (ctx.viewer) return ctx.auth.signOut(ctx.viewer, scope, ctx.client);
  if (cookie?.presented) return ctx.auth.signOutByRefreshToken(cookie.presented, scope, ctx.client);
  throw new AuthError('UNAUTHENTICATED');
}
