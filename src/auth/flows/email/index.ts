import type { AuthDeps } from '../../deps.js';
import { resendConfirmation, verifyEmail } from './confirmation.js';
import { checkEmailChange, confirmEmailChange, startEmailChange } from './email-change.js';
import { signInWithOtp, verifyMagicLink, verifyOtp } from './magic-link.js';
import { requestPasswordReset, resetPassword } from './recovery.js';
import { idle, issueToken, mail, notify } from './tokens.js';

export type { EmailChangeStatus } from './email-change.js';
export { ensureEmailIdentity } from './identity.js';

export type EmailFlows = ReturnType<typeof createEmailFlows>;

type Rest<F> = F extends (deps: never, ...args: infer A) => infer R ? (...args: A) => R : never;

/** `fn` with `deps` bound as its first argument. */
function bind<F extends (deps: AuthDeps, ...args: never[]) => unknown>(deps: AuthDeps, fn: F): Rest<F> {
  return ((...args: never[]) => fn(deps, ...args)) as Rest<F>;
}

/**
 * Everything that proves an email address by mail: sign-up confirmation, password
 * recovery, magic link and six-digit code, email change (the flows in flows/email/). Each
 * mailed secret is random, single use, stored as a hash and expires; sending is
 * rate-limited per address and client.
 */
export function createEmailFlows(deps: AuthDeps) {
  return {
    requireConfirmation: deps.config.mail.requireConfirmation,
    issueToken: bind(deps, issueToken),
    mail: bind(deps, mail),
    notify: bind(deps, notify),
    /** Resolves when queued token writes and mails are done; for shutdown and tests. */
    idle: bind(deps, idle),
    resendConfirmation: bind(deps, resendConfirmation),
    verifyEmail: bind(deps, verifyEmail),
    requestPasswordReset: bind(deps, requestPasswordReset),
    resetPassword: bind(deps, resetPassword),
    signInWithOtp: bind(deps, signInWithOtp),
    verifyMagicLink: bind(deps, verifyMagicLink),
    verifyOtp: bind(deps, verifyOtp),
    checkEmailChange: bind(deps, checkEmailChange),
    startEmailChange: bind(deps, startEmailChange),
    confirmEmailChange: bind(deps, confirmEmailChange),
  };
}
