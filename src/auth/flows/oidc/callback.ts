import { and, eq, gt, sql } from 'drizzle-orm';
import { authCodes, oidcFlows } from '../../../db/schema.js';
import type { AuthDeps } from '../../deps.js';
import { hashSecret, looksLikeSecret, randomSecret } from '../../secret.js';
import { type BrowserAnswer, cookieName, errorPage, flowCookie, readCookie } from './answers.js';
import type { BrokerState } from './providers.js';
import { redeem } from './redeem.js';

/** GET /auth/:provider/callback — verifies the provider's answer and hands the app a one-time code. */
export async function callback(
  deps: Pick<AuthDeps, 'db' | 'config' | 'discover' | 'log'>,
  broker: BrokerState,
  providerName: string,
  query: URLSearchParams,
  cookieHeader: string | null,
): Promise<BrowserAnswer> {
  const { db, config, log } = deps;
  const provider = broker.providers.get(providerName);
  const state = query.get('state') ?? '';
  if (!provider || !looksLikeSecret(state)) return errorPage(400, 'The sign-in link is not valid.');
  const stateHash = hashSecret(state);
  const clear = [flowCookie(config, provider, stateHash, '', 0)];
  const [flow] = await db
    .delete(oidcFlows)
    .where(
      and(
        eq(oidcFlows.stateHash, stateHash),
        eq(oidcFlows.provider, provider.name),
        gt(oidcFlows.expiresAt, sql`now()`),
      ),
    )
    .returning();
  if (!flow) return errorPage(400, 'This sign-in expired or was already finished; start again.', clear);
  // Login CSRF: a sign-in finishes only in the browser that started it. A link needs no
  // cookie: only its own user's exchangeCode can complete it.
  if (flow.linkUserId === null && readCookie(cookieHeader, cookieName(stateHash)) !== state) {
    return errorPage(400, 'This sign-in was started in another browser; start again.', clear);
  }
  const back = (params: Record<string, string>): BrowserAnswer => {
    const url = new URL(flow.redirectTo);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return { kind: 'redirect', location: url.toString(), cookies: clear };
  };
  const providerError = query.get('error');
  if (providerError !== null) {
    const code = /^[a-z_]{1,64}$/.test(providerError) ? providerError : 'access_denied';
    return back({ error: code, error_description: 'The provider did not sign the user in.' });
  }
  const code = query.get('code');
  if (!code || code.length > 4096) return back({ error: 'invalid_request', error_description: 'No code.' });
  try {
    const claims = await redeem(deps, broker, provider, code, flow.codeVerifier, flow.nonce);
    const oneTime = randomSecret();
    await db.insert(authCodes).values({
      codeHash: hashSecret(oneTime),
      provider: provider.name,
      providerId: claims.sub,
      identityData: claims.data,
      clientChallenge: flow.clientChallenge,
      linkUserId: flow.linkUserId,
      expiresAt: sql`now() + make_interval(secs => ${config.oidc.codeTtlS})`,
    });
    return back({ code: oneTime });
  } catch (err) {
    log.warn({ provider: provider.name, err: (err as Error).message }, 'provider sign-in failed');
    return back({ error: 'server_error', error_description: "The provider's answer could not be verified." });
  }
}
