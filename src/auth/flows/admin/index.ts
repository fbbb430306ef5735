import type { Config } from '../../../config.js';
import type { Db } from '../../../db/client.js';
import { deleteUser } from './delete-user.js';
import { getUser } from './get-user.js';
import { type ImportOptions, type ImportUser, importUsers } from './import-users.js';
import { type ListUsersOptions, listUsers } from './list-users.js';
import { signOutUser } from './sign-out-user.js';
import { type AdminUserUpdate, updateUser } from './update-user.js';

export type AdminService = ReturnType<typeof createAdminService>;

/**
 * What a service-role caller may do to any account. Runs on the auth pool; the GraphQL
 * layer checks the service role before calling any of it.
 */
export function createAdminService(db: Db, config: Config) {
  const deps = { db };
  return {
    listUsers: (opts: ListUsersOptions) => listUsers(deps, opts),
    getUser: (id: string) => getUser(deps, id),
    updateUser: (id: string, input: AdminUserUpdate) => updateUser(deps, id, input),
    deleteUser: (id: string) => deleteUser(deps, id),
    signOutUser: (userId: string) => signOutUser(deps, userId),
    /** `authgate users:import`: the operator's, not the API's. */
    importUsers: (rows: ImportUser[], opts: ImportOptions) => importUsers({ db, config }, rows, opts),
  };
}
