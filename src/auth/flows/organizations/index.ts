import type { AuthDeps } from '../../deps.js';
import type { ClientInfo } from '../../model.js';
import { consumeInOrder, emailSendChecks } from '../../rate-limit.js';
import { hashSecret, looksLikeSecret } from '../../secret.js';
import { INVITATION_TTL_S, invitationSecret, mailInvitation } from './invitation.js';

export type OrganizationFlows = ReturnType<typeof createOrganizationFlows>;

/**
 * The parts of organisations that are not rows: the invitation secret and its mail. The
 * rows themselves are written by the request's transaction under RLS (src/graphql/organizations.ts),
 * so the policies, not this code, decide who may change what.
 */
export function createOrganizationFlows(deps: Pick<AuthDeps, 'config' | 'mailer' | 'limiter'>) {
  return {
    invitationTtlS: INVITATION_TTL_S,
    invitationSecret,
    /** The stored form of a token a user pasted, or null for one that cannot be ours. */
    invitationHash: (token: string): string | null => (looksLikeSecret(token) ? hashSecret(token) : null),
    /**
     * Counts an invitation mail like every other mail to an address (per address and client,
     * with a per-address ceiling): an admin cannot mail-bomb an address with invitations.
     */
    limitInvitation: (to: string, client: ClientInfo) => consumeInOrder(deps.limiter, emailSendChecks(to, client.ip)),
    mailInvitation: (to: string, token: string) => mailInvitation(deps, to, token),
  };
}
