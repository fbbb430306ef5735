import type { Caller } from '../../assurance.js';
import type { AuthDeps } from '../../deps.js';
import type { ExternalIdentity } from '../../external.js';
import type { AuthPayload, ClientInfo } from '../../model.js';
import { exchangeCode } from './exchange-code.js';
import { listIdentities } from './list.js';
import { createExternalCache, type ExternalUser, resolveExternal } from './resolve-external.js';
import { unlinkIdentity } from './unlink.js';

export type { IdentityView } from './list.js';
export type { ExternalUser } from './resolve-external.js';

export type IdentityService = ReturnType<typeof createIdentityService>;

/**
 * Users who come from elsewhere: trusted issuers' tokens (created just in time) and
 * provider sign-ins finished by a one-time code; plus listing, linking and unlinking.
 * The flows live in flows/identities/; this binds them to the auth path's deps.
 */
export function createIdentityService(deps: AuthDeps) {
  // One per service: unlinking drops what resolveExternal remembered of the user.
  const externalCache = createExternalCache();
  return {
    resolveExternal: (ext: ExternalIdentity): Promise<ExternalUser> => resolveExternal(deps, externalCache, ext),
    exchangeCode: (
      input: { code: string; codeVerifier?: string | null },
      viewer: { id: string } | null,
      client: ClientInfo,
    ): Promise<AuthPayload> => exchangeCode(deps, input, viewer, client),
    list: (userId: string) => listIdentities(deps, userId),
    unlink: (caller: Caller, identityId: string, client?: ClientInfo): Promise<boolean> =>
      unlinkIdentity(deps, externalCache, caller, identityId, client),
  };
}
