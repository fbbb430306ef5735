/** The user a session belongs to, as the gateway's `User` type describes it. */
export type User = {
  id: string;
  email: string;
  role: string;
  isAnonymous: boolean;
  emailConfirmedAt: string | null;
  createdAt: string;
  lastSignInAt: string | null;
  userMetadata: Record<string, unknown>;
  appMetadata: Record<string, unknown>;
};

/**
 * A signed-in session. `refreshToken` is null in cookie mode (the gateway keeps it in an
 * HttpOnly cookie no script reads) and in a tab that was told not to keep it.
 */
export type Session = {
  accessToken: string;
  refreshToken: string | null;
  /** When the access token expires, ISO-8601. */
  expiresAt: string;
  /** `aal1`, or `aal2` once a second factor was passed in this session. */
  aal: string;
  /** The user has a verified second factor this session has not passed yet. */
  mfaRequired: boolean;
  user: User;
};

/** What the gateway answers with wherever it starts or renews a session (`AuthPayload`). */
export type AuthPayload = {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  aal: string;
  mfaRequired: boolean;
  user: User;
};

/**
 * - `INITIAL_SESSION`: once per listener, with the session read from storage (or null).
 * - `SIGNED_IN`: a session started (sign-in, sign-up, a provider, a second factor passed).
 * - `MFA_REQUIRED`: signed in at aal1 by a user with a verified factor: verify it next.
 * - `TOKEN_REFRESHED`: a new access token, by this tab or adopted from another.
 * - `USER_UPDATED`: the same user with changed fields (after `refreshUser()` or a refresh).
 * - `SIGNED_OUT`: no session any more (sign-out here or in another tab, or the gateway ended it).
 */
export type AuthChangeEvent =
  | 'INITIAL_SESSION'
  | 'SIGNED_IN'
  | 'MFA_REQUIRED'
  | 'TOKEN_REFRESHED'
  | 'USER_UPDATED'
  | 'SIGNED_OUT';

export type AuthStateListener = (event: AuthChangeEvent, session: Session | null) => void;

/**
 * A typed document: what GraphQL Code Generator's client preset emits (`TypedDocumentNode` or,
 * with `documentMode: 'string'`, `TypedDocumentString`), or plain text. Structural, so the
 * package needs neither `graphql` nor codegen at run time.
 */
export type Document<TResult = unknown, TVariables = Record<string, unknown>> =
  | string
  | ({ readonly __apiType?: (variables: TVariables) => TResult } & object);

export type ResultOf<D> = D extends { readonly __apiType?: (variables: never) => infer R } ? R : unknown;

/** Variables are optional exactly when the operation has no required ones. */
export type VariablesArgs<TVars> = Record<string, never> extends TVars ? [variables?: TVars] : [variables: TVars];
