import type { AuthDeps } from '../../deps.js';
import type { BrowserAnswer } from './answers.js';
import { callback } from './callback.js';
import { linkUrl } from './link-url.js';
import { createBrokerState } from './providers.js';
import { start } from './start.js';

export type { BrowserAnswer } from './answers.js';

export type OidcBroker = ReturnType<typeof createOidcBroker>;

/**
 * Sign-in through OpenID Connect providers: the authorization-code flow with PKCE, state
 * and nonce. The provider's answer is verified here, then parked as a one-time code that
 * the browser brings back to the app, and the app exchanges (exchangeCode) for our tokens:
 * no token ever travels in a URL. The flows live in flows/oidc/; this binds them.
 */
export function createOidcBroker(deps: AuthDeps) {
  // One per broker: the providers by name and their key sets, kept across requests.
  const broker = createBrokerState(deps.config);
  return {
    providerNames: (): string[] => [...broker.providers.keys()],
    start: (providerName: string, query: URLSearchParams, client: { ip: string | null }): Promise<BrowserAnswer> =>
      start(deps, broker, providerName, query, client),
    linkUrl: (
      providerName: string,
      params: { redirectTo: string | null; codeChallenge: string | null },
      client: { ip: string | null },
      userId: string,
    ): Promise<string> => linkUrl(deps, broker, providerName, params, client, userId),
    callback: (providerName: string, query: URLSearchParams, cookieHeader: string | null): Promise<BrowserAnswer> =>
      callback(deps, broker, providerName, query, cookieHeader),
  };
}
