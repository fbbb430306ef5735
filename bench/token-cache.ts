/**
 * Bearer token verification for the bench's other servers (floor, PostGraphile), with the
 * gateway's token cache (src/auth/access-token.ts): a verified token is kept until its `exp`,
 * at most 5000 of them, the oldest dropped first. The gateway skips the ES256 check on a hit
 * (revocation is decided in the database per request), so a server compared with it may too;
 * otherwise the comparison would charge the other server a signature check the gateway skips.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';

export type Claims = JWTPayload & { sub: string; session_id: string; role: string; exp: number };

// As the gateway's VERIFIED_CACHE_SIZE.
const CACHE_SIZE = 5000;

/** `verify(authorization header)`: the claims of a valid user token, or null. */
export async function tokenVerifier(
  jwksUrl: string,
  issuer: string,
  cached: boolean,
): Promise<(authorization: string | undefined) => Promise<Claims | null>> {
  const res = await fetch(jwksUrl, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
  const jwks = createLocalJWKSet((await res.json()) as JSONWebKeySet);
  const cache = new Map<string, Claims>();

  const verifyUncached = async (token: string): Promise<Claims | null> => {
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        audience: 'authenticated',
        algorithms: ['ES256'],
        requiredClaims: ['exp', 'iat', 'role'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.session_id !== 'string') return null;
      if (payload.role !== 'authenticated') return null;
      return payload as Claims;
    } catch {
      return null;
    }
  };

  return async (authorization) => {
    const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(authorization ?? '');
    const token = m?.[1];
    if (!token) return null;
    if (!cached) return verifyUncached(token);
    const hit = cache.get(token);
    if (hit && hit.exp > Date.now() / 1000) return hit;
    if (hit) cache.delete(token);
    const claims = await verifyUncached(token);
    if (!claims) return null;
    if (cache.size >= CACHE_SIZE) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(token, claims);
    return claims;
  };
}
