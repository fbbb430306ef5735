import { eq } from 'drizzle-orm';
import { users } from '../../../db/schema.js';
import type { AuthDeps } from '../../deps.js';

/** Deletes any user (their rows go with them); false when there was none. */
export async function deleteUser(deps: Pick<AuthDeps, 'db'>, id: string): Promise<boolean> {
  return (await deps.db.delete(users).where(eq(users.id, id)).returning({ id: users.id })).length > 0;
}
