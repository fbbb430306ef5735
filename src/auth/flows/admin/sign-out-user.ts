import { eq } from 'drizzle-orm';
import { sessions } from '../../../db/schema.js';
import type { AuthDeps } from '../../deps.js';

/** Ends every session of a user (their refresh tokens go with them). */
export async function signOutUser(deps: Pick<AuthDeps, 'db'>, userId: string): Promise<boolean> {
  await deps.db.delete(sessions).where(eq(sessions.userId, userId));
  return true;
}
