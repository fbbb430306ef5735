import { type AuthClient, AuthgateError, createAuthClient, ProviderSignInError } from '@authgate/client';
import { MeDocument } from './documents.js';
import type { MeQuery } from './gql/graphql.js';

// What pages of the app call: framework-free functions over the package's client, which a
// component, a route or a store wraps as it likes.

/**
 * The page's one client. `trusted`: send ids instead of text, once the gateway runs
 * TRUSTED_DOCUMENTS_ONLY with this app's persisted-documents.json and the package's.
 */
export function createAppClient(url: string, { trusted = false }: { trusted?: boolean } = {}): AuthClient {
  return createAuthClient({ url, persistedDocuments: trusted });
}

/** The signed-in user with their profile, or null when nobody is. */
export async function currentUser(auth: AuthClient): Promise<MeQuery['me']> {
  return (await auth.request(MeDocument)).me;
}

/**
 * How a provider sign-in ended, for the landing page to say: `cancelled` when the user said no at
 * the provider, `start-again` when the code or the verifier was refused.
 */
export type SignInOutcome = { signedIn: true; userId: string } | { signedIn: false; why: 'cancelled' | 'start-again' };

/**
 * The landing page of a provider sign-in (one of the gateway's OIDC_REDIRECT_URLS): finishes it
 * with the verifier `auth.providerSignInUrl` kept. The caller drops the spent code from the
 * address bar afterwards, whatever the outcome.
 */
export async function finishSignIn(auth: AuthClient, landing: string | URL): Promise<SignInOutcome> {
  try {
    const { user } = await auth.finishProviderSignIn(landing);
    return { signedIn: true, userId: user.id };
  } catch (err) {
    if (err instanceof ProviderSignInError && err.error === 'access_denied')
      return { signedIn: false, why: 'cancelled' };
    // A landing without a code, an expired or spent code, a missing or wrong verifier.
    if (err instanceof ProviderSignInError || (err instanceof AuthgateError && err.has('BAD_USER_INPUT'))) {
      return { signedIn: false, why: 'start-again' };
    }
    throw err;
  }
}
