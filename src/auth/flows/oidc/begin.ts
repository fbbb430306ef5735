import { sql } from 'drizzle-orm';
import type { OidcProvider } from '../../../config.js';
import { oidcFlows } from '../../../db/schema.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError } from '../../errors.js';
import { hashSecret, looksLikeSecret, pkceChallenge, randomSecret } from '../../secret.js';
import { ProviderUnavailable } from './answers.js';
import { type BrokerState, callbackUrl } from './providers.js';
import { allowedRedirect } from './redirect.js';

/** How long a started sign-in waits for the provider's answer (the flow row and its cookie). */
export const FLOW_TTL_S = 600;

/** What a sign-in or a link asks for: where to end up and the app's own PKCE challenge. */
export type BeginParams = {
  redirectTo: string | null;
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
};

/** Creates the flow row and the provider URL; `linkUserId` for a signed-in user's link. */
export async function begin(
  deps: Pick<AuthDeps, 'db' | 'config' | 'discover' | 'limiter'>,
  broker: Pick<BrokerState, 'providers'>,
  providerName: string,
  params: BeginParams,
  client: { ip: string | null },
  linkUserId: string | null,
): Promise<{ url: string; state: string; stateHash: string; provider: OidcProvider }> {
  const provider = broker.providers.get(providerName);
  if (!provider) throw new AuthError('BAD_USER_INPUT', 'Unknown provider.', { reason: 'UNKNOWN_PROVIDER' });
  const redirectTo = allowedRedirect(deps.config, params.redirectTo);
  if (!redirectTo) {
    throw new AuthError('BAD_USER_INPUT', 'redirect_to is not one of OIDC_REDIRECT_URLS.', {
      reason: 'REDIRECT_NOT_ALLOWED',
    });
  }
  if (params.codeChallenge !== null) {
    if ((params.codeChallengeMethod ?? 'S256') !== 'S256' || !looksLikeSecret(params.codeChallenge)) {
      throw new AuthError('BAD_USER_INPUT', 'code_challenge must be an S256 challenge (43 base64url characters).');
    }
  }
  await deps.limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
  const meta = await deps.discover(provider.issuer, provider.timeoutMs).catch((err: unknown) => {
    throw new ProviderUnavailable((err as Error).message);
  });
  const state = randomSecret();
  const nonce = randomSecret();
  const verifier = randomSecret();
  const stateHash = hashSecret(state);
  await deps.db.insert(oidcFlows).values({
    stateHash,
    provider: provider.name,
    codeVerifier: verifier,
    nonce,
    redirectTo,
    clientChallenge: params.codeChallenge,
    linkUserId,
    expiresAt: sql`now() + make_interval(secs => ${FLOW_TTL_S})`,
  });
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    ...Object.fromEntries(url.searchParams),
    response_type: 'code',
    client_id: provider.clientId,
    redirect_uri: callbackUrl(deps.config, provider),
    scope: provider.scopes,
    state,
    nonce,
    code_challenge: pkceChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  return { url: url.toString(), state, stateHash, provider };
}
