import type { Db } from '../../../db/client.js';
import { deleteUser } from './delete-user.js';
import { getUser } from './get-user.js';
import { type ListUsersOptions, listUsers } from './list-users.js';
import { deleteUserPasskey, listUserPasskeys } from './passkeys.js';
import { signOutUser } from './sign-out-user.js';
import { type AdminUserUpdate, updateUser } from './update-user.js';

export type AdminService = ReturnType<typeof createAdminService>;

/**
 * What a service-role caller may do to any account. Runs on the auth pool; the GraphQL
 * layer checks the service role before calling any of it.
 */
export function createAdminService(db: Db) {
  const deps = { db };
  return {
    listUsers: (opts: ListUsersOptions) => listUsers(deps, opts),
    getUser: (id: string) => getUser(deps, id),
    updateUser: (id: string, input: AdminUserUpdate) => updateUser(deps, id, input),
    deleteUser: (id: string) => deleteUser(deps, id),
    signOutUser: (userId: string) => signOutUser(deps, userId),
    listPasskeys: (userId: string) => listUserPasskeys(deps, userId),
    deletePasskey: (userId: string, passkeyId: string) => deleteUserPasskey(deps, userId, passkeyId),
  };
}
