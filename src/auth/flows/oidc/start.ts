import type { AuthDeps } from '../../deps.js';
import { type BrowserAnswer, failure, flowCookie } from './answers.js';
import { begin, FLOW_TTL_S } from './begin.js';
import type { BrokerState } from './providers.js';

/** GET /auth/:provider/start — for a sign-in; the state is bound to this browser by a cookie. */
export async function start(
  deps: Pick<AuthDeps, 'db' | 'config' | 'discover' | 'limiter' | 'log'>,
  broker: Pick<BrokerState, 'providers'>,
  providerName: string,
  query: URLSearchParams,
  client: { ip: string | null },
): Promise<BrowserAnswer> {
  try {
    const begun = await begin(
      deps,
      broker,
      providerName,
      {
        redirectTo: query.get('redirect_to'),
        codeChallenge: query.get('code_challenge'),
        codeChallengeMethod: query.get('code_challenge_method'),
      },
      client,
      null,
    );
    return {
      kind: 'redirect',
      location: begun.url,
      cookies: [flowCookie(deps.config, begun.provider, begun.stateHash, begun.state, FLOW_TTL_S)],
    };
  } catch (err) {
    return failure(err, deps.log);
  }
}
