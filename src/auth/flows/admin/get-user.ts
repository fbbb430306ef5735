import { eq } from 'drizzle-orm';
import { users } from '../../../db/schema.js';
import type { AuthDeps } from '../../deps.js';
import { toUserView, type UserView } from '../../model.js';

/** Any user by id, or null. */
export async function getUser(deps: Pick<AuthDeps, 'db'>, id: string): Promise<UserView | null> {
  const [user] = await deps.db.select().from(users).where(eq(users.id, id));
  return user ? toUserView(user) : null;
}
