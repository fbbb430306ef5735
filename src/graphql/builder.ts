import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin, { type AuthFailure, AuthScopeFailureType } from '@pothos/plugin-scope-auth';
import { AuthError } from '../auth/errors.js';
import type { Context, Viewer } from '../context.js';

/** The context of a field that requires a signed-in caller. */
export type SignedInContext = Context & { viewer: Viewer };
/** The context of a field that requires a session of this server (not a trusted issuer's token). */
export type NativeSessionContext = Context & { viewer: Viewer & { sessionId: string } };

type Scopes = {
  signedIn: boolean;
  nativeSession: boolean;
  serviceRole: boolean;
};

/** What a caller who lacks a scope is told; the first thing missing decides. */
const DENIED: Record<keyof Scopes, (ctx: Context) => AuthError> = {
  signedIn: () => new AuthError('UNAUTHENTICATED'),
  nativeSession: (ctx) =>
    ctx.viewer
      ? new AuthError('FORBIDDEN', "Second factors belong to this server's sessions; sign in here first.", {
          reason: 'NATIVE_SESSION_REQUIRED',
        })
      : new AuthError('UNAUTHENTICATED'),
  serviceRole: () => new AuthError('FORBIDDEN', 'Only the service role may do this.'),
};

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  AuthScopes: Scopes;
  AuthContexts: { signedIn: SignedInContext; nativeSession: NativeSessionContext };
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({
      signedIn: ctx.viewer !== null,
      nativeSession: ctx.viewer !== null && ctx.viewer.sessionId !== null,
      serviceRole: ctx.service,
    }),
    unauthorizedError: (_parent, ctx, _info, { failure }) => {
      const scope = failedScope(failure);
      return scope ? DENIED[scope](ctx) : new AuthError('FORBIDDEN');
    },
  },
});

builder.queryType({});
builder.mutationType({});

/** The first scope a check failed on. */
function failedScope(failure: AuthFailure): keyof Scopes | null {
  if (failure.kind === AuthScopeFailureType.AuthScope) {
    return Object.hasOwn(DENIED, failure.scope) ? (failure.scope as keyof Scopes) : null;
  }
  if (failure.kind === AuthScopeFailureType.AnyAuthScopes || failure.kind === AuthScopeFailureType.AllAuthScopes) {
    for (const inner of failure.failures) {
      const scope = failedScope(inner);
      if (scope) return scope;
    }
  }
  return null;
}
