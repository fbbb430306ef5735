import type { UserRow } from '../../../db/schema.js';
import {
  type Caller,
  type CallerState,
  callerState,
  reauthenticationRequired,
  recentlyAuthenticated,
  requireAal2IfEnrolled,
} from '../../assurance.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError } from '../../errors.js';
import type { ClientInfo } from '../../model.js';
import { reauthChecks } from '../../rate-limit.js';
import { PASSWORD_MAX } from '../../validate.js';

// What an account change asks of its caller before it touches how the account is held.

/** For account changes made elsewhere (linking a provider): aal2 once a factor is verified. */
export async function requireAal2ForCaller(deps: Pick<AuthDeps, 'db'>, caller: Caller): Promise<void> {
  requireAal2IfEnrolled(await callerState(deps.db, caller), caller);
}

/**
 * The current password asked again by an account change: counted per user and client
 * before the hash, and hashed with no connection held.
 */
export async function checkCurrentPassword(
  deps: Pick<AuthDeps, 'limiter' | 'passwords'>,
  user: UserRow,
  given: string,
  client: ClientInfo,
): Promise<void> {
  await deps.limiter.consume(reauthChecks('reauth', user.id, client.ip));
  const ok = [...given].length <= PASSWORD_MAX && (await deps.passwords.verify(user.encryptedPassword, given));
  if (!ok) throw new AuthError('INVALID_CREDENTIALS', 'The current password is wrong.');
}

/**
 * Re-authentication: the current password when given (and the account has one), else a
 * sign-in recent enough. An anonymous user has nothing to re-authenticate with: the
 * session is its only credential.
 */
export async function reauthenticate(
  deps: Pick<AuthDeps, 'limiter' | 'passwords' | 'config'>,
  user: UserRow,
  state: CallerState,
  currentPassword: string | null | undefined,
  client: ClientInfo,
): Promise<void> {
  if (currentPassword != null && user.encryptedPassword !== null) {
    await checkCurrentPassword(deps, user, currentPassword, client);
  } else if (!user.isAnonymous && !recentlyAuthenticated(state, deps.config.reauthWindowS)) {
    throw reauthenticationRequired();
  }
}
