import { type Exchange, makeOperation, mapExchange } from '@urql/core';
import type { AuthClient } from './client.js';

/**
 * An urql exchange that sends every operation through `auth.fetch`: the access token attached,
 * renewed before expiry, and on `UNAUTHENTICATED` renewed once and the operation sent again. Put
 * it before `fetchExchange` (after `persistedExchange`, whose ids then pass through as they are).
 */
export function authgateExchange(auth: AuthClient): Exchange {
  return mapExchange({
    onOperation: (operation) => makeOperation(operation.kind, operation, { ...operation.context, fetch: auth.fetch }),
  });
}
