import type { AuthDeps } from './deps.js';
import type { EmailFlows } from './email-flows.js';
import { signInAnonymously } from './flows/account/anonymous.js';
import { deleteAccount } from './flows/account/delete-account.js';
import type { AccountDeps } from './flows/account/deps.js';
import { requireAal2ForCaller } from './flows/account/reauthenticate.js';
import { refresh } from './flows/account/refresh.js';
import { listSessions, revokeSession } from './flows/account/sessions.js';
import { signIn } from './flows/account/sign-in.js';
import { signOut } from './flows/account/sign-out.js';
import { register, signUp } from './flows/account/sign-up.js';
import { updateUser } from './flows/account/update-user.js';

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
    requireAal2IfEnrolled: bind(requireAal2ForCaller),
    sessions: bind(listSessions),
    revokeSession: bind(revokeSession),
    updateUser: bind(updateUser),
    signInAnonymously: bind(signInAnonymously),
    deleteAccount: bind(deleteAccount),
  };
}
