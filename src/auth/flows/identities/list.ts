import { eq } from 'drizzle-orm';
import { type IdentityRow, identities } from '../../../db/schema.js';
import type { AuthDeps } from '../../deps.js';

/** One way a user signs in, as the GraphQL layer shows it. */
export type IdentityView = {
  id: string;
  provider: string;
  providerId: string;
  email: string | null;
  createdAt: Date;
  lastSignInAt: Date | null;
};

/** The caller's identities, oldest first. */
export async function listIdentities(deps: Pick<AuthDeps, 'db'>, userId: string): Promise<IdentityView[]> {
  const rows = await deps.db
    .select()
    .from(identities)
    .where(eq(identities.userId, userId))
    .orderBy(identities.createdAt);
  return rows.map(toIdentityView);
}

function toIdentityView(r: IdentityRow): IdentityView {
  const email = r.identityData.email;
  return {
    id: r.id,
    provider: r.provider,
    providerId: r.providerId,
    email: typeof email === 'string' ? email : null,
    createdAt: r.createdAt,
    lastSignInAt: r.lastSignInAt,
  };
}
