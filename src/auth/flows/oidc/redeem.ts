import { type JWTPayload, jwtVerify } from 'jose';
import type { OidcProvider } from '../../../config.js';
import type { AuthDeps } from '../../deps.js';
import { type BrokerState, callbackUrl, keySet } from './providers.js';

// Asymmetric algorithms only, checked against the provider's published keys: never "none",
// never an HS* token keyed by the client secret.
const ID_TOKEN_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Code -> tokens at the provider, the ID token verified, userinfo merged in when offered. */
export async function redeem(
  deps: Pick<AuthDeps, 'config' | 'discover'>,
  broker: BrokerState,
  p: OidcProvider,
  code: string,
  verifier: string,
  nonce: string,
): Promise<{ sub: string; data: Record<string, unknown> }> {
  const meta = await deps.discover(p.issuer, p.timeoutMs);
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: callbackUrl(deps.config, p),
    code_verifier: verifier,
  });
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  const methods = meta.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
  if (methods.includes('client_secret_basic')) {
    const id = encodeURIComponent(p.clientId);
    headers.authorization = `Basic ${Buffer.from(`${id}:${encodeURIComponent(p.clientSecret)}`).toString('base64')}`;
  } else {
    body.set('client_id', p.clientId);
    body.set('client_secret', p.clientSecret);
  }
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(p.timeoutMs),
    redirect: 'error',
  });
  if (!res.ok) {
    await res.body?.cancel(); // frees the connection now, not at garbage collection
    throw new Error(`token endpoint answered ${res.status}`);
  }
  const tokens = (await res.json()) as { id_token?: unknown; access_token?: unknown };
  if (typeof tokens.id_token !== 'string') throw new Error('no id_token');
  const algorithms = (meta.id_token_signing_alg_values_supported ?? ['RS256']).filter((a) => ID_TOKEN_ALGS.includes(a));
  const { payload } = await jwtVerify(tokens.id_token, keySet(broker, meta, p), {
    issuer: meta.issuer,
    audience: p.clientId,
    algorithms,
    requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
    clockTolerance: 5,
  });
  if (payload.nonce !== nonce) throw new Error('nonce mismatch');
  if (payload.azp !== undefined && payload.azp !== p.clientId) throw new Error('azp mismatch');
  const sub = payload.sub as string;
  if (sub.length > 255) throw new Error('subject too long');
  let claims: JWTPayload = payload;
  if (meta.userinfo_endpoint && typeof tokens.access_token === 'string') {
    const info = await fetch(meta.userinfo_endpoint, {
      headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(p.timeoutMs),
      redirect: 'error',
    });
    if (info.ok) {
      const extra = (await info.json()) as JWTPayload;
      // Userinfo about anyone else is ignored (OpenID Connect Core, section 5.3.2).
      if (extra.sub === sub) claims = { ...extra, ...payload };
    } else {
      await info.body?.cancel();
    }
  }
  const pick = (k: string, max: number) => {
    const v = claims[k];
    return typeof v === 'string' && v.length <= max ? v : undefined;
  };
  return {
    sub,
    data: {
      iss: meta.issuer,
      sub,
      email: pick('email', 320),
      email_verified: claims.email_verified === true,
      name: pick('name', 256),
      picture: pick('picture', 2048),
      preferred_username: pick('preferred_username', 256),
    },
  };
}
