import type { AuthDeps } from '../../deps.js';
import type { EmailFlows } from '../email/index.js';
import { signInAnonymously } from './anonymous.js';
import { deleteAccount } from './delete-account.js';
import type { AccountDeps } from './deps.js';
import { requireAal2ForCaller } from './reauthenticate.js';
import { refresh } from './refresh.js';
import { securityEvents } from './security-events.js';
import { listSessions, revokeSession } from './sessions.js';
import { signIn } from './sign-in.js';
import { signOut, signOutByRefreshToken } from './sign-out.js';
import { register, signUp } from './sign-up.js';
import { updateUser } from './update-user.js';

export type AuthService = ReturnType<typeof createAuthService>;

/**
 * The account flows (flows/account/): sign-up, sign-in, refresh, sign-out, sessions, account
 * changes and deletion, bound to the auth path's deps. They run on the auth pool, whose
 * connections are authgate_auth; GraphQL requests never are.
 */
export function createAuthService(deps: AuthDeps & { email: EmailFlows }) {
  const bind =
    <A extends unknown[], R>(flow: (deps: AccountDeps, ...args: A) => R) =>
    (...args: A): R =>
      flow(deps, ...args);
  return {
    signUp: bind(signUp),
    register: bind(register),
    signIn: bind(signIn),
    refresh: bind(refresh),
    signOut: bind(signOut),
    signOutByRefreshToken: bind(signOutByRefreshToken),
    requireAal2IfEnrolled: bind(requireAal2ForCaller),
    sessions: bind(listSessions),
    revokeSession: bind(revokeSession),
    updateUser: bind(updateUser),
    signInAnonymously: bind(signInAnonymously),
    deleteAccount: bind(deleteAccount),
    securityEvents: bind(securityEvents),
  };
}
