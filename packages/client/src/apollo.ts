import { HttpLink } from '@apollo/client/link/http';
import type { AuthClient } from './client.js';

type HttpLinkOptions = NonNullable<ConstructorParameters<typeof HttpLink>[0]>;

/**
 * Apollo's HttpLink (the terminating link) with `auth.fetch`: the access token attached, renewed
 * before expiry, and on `UNAUTHENTICATED` renewed once and the request sent again. `uri` defaults
 * to the client's URL; persisted-query links before it pass their ids through.
 */
export function authgateLink(auth: AuthClient, options: Omit<HttpLinkOptions, 'fetch'> = {}): HttpLink {
  return new HttpLink({ uri: auth.url, ...options, fetch: auth.fetch });
}
