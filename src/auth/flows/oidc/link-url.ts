import type { AuthDeps } from '../../deps.js';
import { begin } from './begin.js';
import type { BrokerState } from './providers.js';

/** For linkIdentity: the provider URL to open; the link is bound to the user, not a cookie. */
export async function linkUrl(
  deps: Pick<AuthDeps, 'db' | 'config' | 'discover' | 'limiter'>,
  broker: Pick<BrokerState, 'providers'>,
  providerName: string,
  params: { redirectTo: string | null; codeChallenge: string | null },
  client: { ip: string | null },
  userId: string,
): Promise<string> {
  return (await begin(deps, broker, providerName, { ...params, codeChallengeMethod: 'S256' }, client, userId)).url;
}
