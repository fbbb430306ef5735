import { createRemoteJWKSet } from 'jose';
import type { Config, OidcProvider } from '../../../config.js';
import type { ProviderMetadata } from '../../discovery.js';

type KeySet = ReturnType<typeof createRemoteJWKSet>;

/** What the broker keeps across requests: the configured providers and their key sets. */
export type BrokerState = {
  providers: ReadonlyMap<string, OidcProvider>;
  /** One remote key set per provider, so jose's key cache and refetch cool-down hold across sign-ins. */
  keySets: Map<string, KeySet>;
};

/** The state of one broker, created once with it. */
export function createBrokerState(config: Pick<Config, 'oidc'>): BrokerState {
  return { providers: new Map(config.oidc.providers.map((p) => [p.name, p])), keySets: new Map() };
}

/** The provider's key set, created on its first use from the discovered jwks_uri. */
export function keySet(broker: BrokerState, meta: ProviderMetadata, p: OidcProvider): KeySet {
  let ks = broker.keySets.get(p.name);
  if (!ks) {
    ks = createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: p.timeoutMs });
    broker.keySets.set(p.name, ks);
  }
  return ks;
}

/** Where the provider sends the browser back: the same URL in the request and the redemption. */
export const callbackUrl = (config: Pick<Config, 'publicUrl'>, p: OidcProvider): string =>
  `${config.publicUrl}/auth/${p.name}/callback`;
