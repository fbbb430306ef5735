import type { AuthChangeEvent, AuthStateListener, Session } from './types.js';

/** The events that take a tab from `before` to `after` when another tab made the change. */
export function transition(before: Session | null, after: Session | null): AuthChangeEvent[] {
  if (!after) return before ? ['SIGNED_OUT'] : [];
  if (!before || before.user.id !== after.user.id || (before.mfaRequired && !after.mfaRequired)) {
    return [after.mfaRequired ? 'MFA_REQUIRED' : 'SIGNED_IN'];
  }
  const events: AuthChangeEvent[] = [];
  if (before.accessToken !== after.accessToken) events.push('TOKEN_REFRESHED');
  if (JSON.stringify(before.user) !== JSON.stringify(after.user)) events.push('USER_UPDATED');
  return events;
}

/** A listener that throws must not stop the others, nor the client. */
export function call(listener: AuthStateListener, event: AuthChangeEvent, session: Session | null): void {
  try {
    listener(event, session);
  } catch (err) {
    const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
    if (report) report(err);
    else console.error(err);
  }
}
