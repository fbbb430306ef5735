import type { Config } from '../../../config.js';
import type { Db } from '../../../db/client.js';
import type { AuditFilter } from '../../audit.js';
import type { ClientInfo } from '../../model.js';
import { listAuditLog } from './audit-log.js';
import { deleteUser } from './delete-user.js';
import { getUser } from './get-user.js';
import { type ImportOptions, type ImportUser, importUsers } from './import-users.js';
import { type ListUsersOptions, listUsers } from './list-users.js';
import { deleteUserPasskey, listUserPasskeys } from './passkeys.js';
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
    updateUser: (id: string, input: AdminUserUpdate, client?: ClientInfo) => updateUser(deps, id, input, client),
    deleteUser: (id: string, client?: ClientInfo) => deleteUser(deps, id, client),
    signOutUser: (userId: string, client?: ClientInfo) => signOutUser(deps, userId, client),
    auditLog: (filter: AuditFilter, first: number, after: { createdAt: string; id: string } | null) =>
      listAuditLog(deps, filter, first, after),
    /** `authgate users:import`: the operator's, not the API's. */
    importUsers: (rows: ImportUser[], opts: ImportOptions) => importUsers({ db, config }, rows, opts),
    listPasskeys: (userId: string) => listUserPasskeys(deps, userId),
    deletePasskey: (userId: string, passkeyId: string) => deleteUserPasskey(deps, userId, passkeyId),
  };
}
