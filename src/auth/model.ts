import type { ProfileRow, UserRow } from '../db/schema.js';
import type { AccessClaims } from './access-token.js';

// What the auth flows hand back to the GraphQL layer, and the mappers from rows to them.

export type UserView = {
  id: string;
  email: string;
  role: string;
  createdAt: Date | string;
  lastSignInAt: Date | string | null;
  userMetadata: Record<string, unknown>;
  appMetadata: Record<string, unknown>;
  emailConfirmedAt: Date | string | null;
  isAnonymous: boolean;
  /** An address given but not proven yet: it counts for nothing until its link is used. */
  pendingEmail: string | null;
  /** Present when the auth path already read it, so the payload's user shows its own profile. */
  preloadedProfile?: ProfileRow | null;
};

export type AuthPayload = {
  accessToken: string;
  refreshToken: string;
  tokenType: 'bearer';
  expiresIn: number;
  expiresAt: Date;
  aal: 'aal1' | 'aal2';
  mfaRequired: boolean;
  user: UserView;
};

/** register's answer: a session, or (confirmation required) the user and no session yet. */
export type SignUpResult = { user: UserView; session: AuthPayload | null; confirmationRequired: boolean };

export type SessionView = {
  id: string;
  createdAt: Date;
  updatedAt: Date;
  lastActiveAt: Date;
  userAgent: string | null;
  ip: string | null;
  current: boolean;
};

export type ClientInfo = { ip: string | null; userAgent: string | null };

export type SignOutScope = 'LOCAL' | 'GLOBAL' | 'OTHERS';

export function toUserView(user: UserRow): UserView {
  return {
    id: user.id,
    email: user.email ?? '',
    role: user.role,
    createdAt: user.createdAt,
    lastSignInAt: user.lastSignInAt,
    userMetadata: user.rawUserMetaData,
    appMetadata: user.rawAppMetaData,
    emailConfirmedAt: user.emailConfirmedAt,
    isAnonymous: user.isAnonymous,
    pendingEmail: user.pendingEmail,
  };
}

/** The payload of a grant whose access token was just signed. */
export function toAuthPayload(
  accessToken: string,
  claims: Pick<AccessClaims, 'exp' | 'iat'>,
  g: { user: UserRow; refreshToken: string; aal: 'aal1' | 'aal2'; mfaRequired: boolean; profile: ProfileRow | null },
): AuthPayload {
  return {
    accessToken,
    refreshToken: g.refreshToken,
    tokenType: 'bearer',
    expiresIn: claims.exp - claims.iat,
    expiresAt: new Date(claims.exp * 1000),
    aal: g.aal,
    mfaRequired: g.mfaRequired,
    user: { ...toUserView(g.user), preloadedProfile: g.profile },
  };
}

/** Banned until a time still to come. */
export const isBanned = (user: Pick<UserRow, 'bannedUntil'>): boolean =>
  user.bannedUntil !== null && user.bannedUntil > new Date();
