import { eq } from 'drizzle-orm';
import { users } from '../../../db/schema.js';
import { auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import type { ExternalIdentity } from '../../external.js';
import { createUser, findIdentity, lockIdentity, providerEmail } from './provider-users.js';

/** The user a trusted issuer's token stands for, as the request's claims need it. */
export type ExternalUser = {
  id: string;
  email: string | null;
  appMetadata: Record<string, unknown>;
  userMetadata: Record<string, unknown>;
};

// Mapping a trusted issuer's subject to our user costs a query; requests reuse it for a
// while. Bans and deletions still act on the next request (auth.require_active_user).
const EXTERNAL_CACHE_MS = 30_000;
const EXTERNAL_CACHE_SIZE = 10_000;

/** The recent mappings of issuer and subject to our user; one per identity service. */
export type ExternalCache = {
  get: (key: string) => ExternalUser | undefined;
  set: (key: string, user: ExternalUser) => void;
  /** Drops every mapping to `userId`, so a change of its identities shows on the next request. */
  forgetUser: (userId: string) => void;
};

/** An empty cache: bounded in size, the oldest entry goes first, entries live 30 s. */
export function createExternalCache(): ExternalCache {
  const entries = new Map<string, { user: ExternalUser; until: number }>();
  return {
    get(key) {
      const hit = entries.get(key);
      return hit && hit.until > Date.now() ? hit.user : undefined;
    },
    set(key, user) {
      if (entries.size >= EXTERNAL_CACHE_SIZE) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.set(key, { user, until: Date.now() + EXTERNAL_CACHE_MS });
    },
    forgetUser(userId) {
      for (const [key, entry] of entries) if (entry.user.id === userId) entries.delete(key);
    },
  };
}

/**
 * Our user for a trusted issuer's token, created with a profile on first sight. An
 * existing account with the same email is never taken over: the new user gets none.
 */
export async function resolveExternal(
  deps: Pick<AuthDeps, 'db'>,
  cache: ExternalCache,
  ext: ExternalIdentity,
): Promise<ExternalUser> {
  const key = `${ext.issuer}\u0000${ext.subject}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const user = await deps.db.transaction(async (tx) => {
    await lockIdentity(tx, ext.issuer, ext.subject);
    const found = await findIdentity(tx, ext.issuer, ext.subject);
    if (found) {
      const [u] = await tx.select().from(users).where(eq(users.id, found.userId));
      if (u) return u;
    }
    const created = await createUser(tx, {
      provider: ext.provider,
      issuer: ext.issuer,
      providerId: ext.subject,
      // Only an address the issuer says it verified becomes the account's: anything
      // else would let whoever controls a token's email claim squat the address. It
      // stays in the identity either way.
      email: ext.emailVerified === true ? providerEmail(ext.email) : null,
      emailVerified: ext.emailVerified === true,
      identityData: { sub: ext.subject, iss: ext.issuer, email: ext.email, email_verified: ext.emailVerified },
    });
    // First sight of the subject: the account is made now. The request's client is not
    // known down here (this runs while its token is checked), so the row has no address.
    await auditStatement(
      tx,
      byUser('user.signed_up', created.id, null, { method: 'external', provider: ext.provider }),
    );
    return created;
  });
  const view: ExternalUser = {
    id: user.id,
    email: user.email,
    appMetadata: user.rawAppMetaData,
    userMetadata: user.rawUserMetaData,
  };
  cache.set(key, view);
  return view;
}
