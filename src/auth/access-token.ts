import { type CryptoKey, decodeJwt, type JWTHeaderParameters, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { isUuid } from '../shared/ids.js';
import { TokenRefused } from './errors.js';
import type { ExternalIdentity, ExternalVerifier } from './external.js';
import type { KeyStore } from './signing-keys.js';

export type AccessClaims = {
  iss: string;
  sub: string;
  aud: 'authenticated';
  exp: number;
  iat: number;
  /** `authenticated`, or a role of ACCESS_TOKEN_HOOK_ROLES the access-token hook chose. */
  role: string;
  email: string;
  session_id: string;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
  aal: 'aal1' | 'aal2';
  amr: Array<{ method: string; timestamp: number }>;
  is_anonymous: boolean;
  /** Claims the access-token hook added; verify keeps them, so auth.jwt() sees them. */
  [claim: string]: unknown;
};

/** A trusted back end's identity: Postgres role service_role, which bypasses RLS. */
export type ServiceClaims = { iss: string; role: 'service_role'; iat: number; exp: number };

export type Verified =
  | { kind: 'user'; claims: AccessClaims }
  | { kind: 'service'; claims: ServiceClaims }
  /** A trusted issuer's token; the request maps it to one of our users. */
  | { kind: 'external'; claims: ExternalIdentity };

export type TokenSubject = {
  userId: string;
  email: string;
  sessionId: string;
  appMetadata: Record<string, unknown>;
  userMetadata: Record<string, unknown>;
  aal: AccessClaims['aal'];
  amr: AccessClaims['amr'];
  isAnonymous: boolean;
  /** The session's active organisation while the user is a member (claim org_id). */
  orgId?: string | null;
};

export type SigningMode = { alg: 'HS256'; secret: string } | { alg: 'ES256'; keys: KeyStore };

export type AccessTokens = {
  ttlS: number;
  /** The claims sign() would issue now; grant() hands them to the access-token hook first. */
  claims: (subject: TokenSubject) => AccessClaims;
  /** Signs claims built by claims() (and perhaps extended by the hook), as they are. */
  signClaims: (claims: AccessClaims) => Promise<string>;
  sign: (subject: TokenSubject) => Promise<{ token: string; claims: AccessClaims }>;
  signServiceRole: (ttlS: number) => Promise<string>;
  /** Verified claims, or UNAUTHENTICATED; never decodes without verifying. */
  verify: (token: string) => Promise<Verified>;
};

// Above any token we issue (both metadata claims may hold 16 KiB of JSON, base64url adds a
// third); bounds the work a stranger can make us do.
const MAX_TOKEN_LENGTH = 64 * 1024;
/**
 * The most UTF-8 bytes of claims JSON the access-token hook may return: base64url makes 4
 * characters of 3 bytes, and the header and signature need well under 512, so a token
 * signed from it stays under MAX_TOKEN_LENGTH and verifies.
 */
export const MAX_CLAIMS_BYTES = Math.floor(((MAX_TOKEN_LENGTH - 512) * 3) / 4);
const VERIFIED_CACHE_SIZE = 5000;

/**
 * Access tokens with the Supabase claim set. ES256 (kid in the header, keys from the key
 * store) or HS256 with a shared secret; exactly one algorithm is accepted, so a token
 * "signed" with alg none or with the public key as an HMAC secret never verifies.
 */
export function createAccessTokens(opts: {
  mode: SigningMode;
  issuer: string;
  ttlS: number;
  external?: ExternalVerifier;
  /** Roles besides authenticated a user token may carry (ACCESS_TOKEN_HOOK_ROLES). */
  roles?: readonly string[];
}): AccessTokens {
  const { mode } = opts;
  const userRoles = new Set(['authenticated', ...(opts.roles ?? [])]);
  const hmacKey = mode.alg === 'HS256' ? new TextEncoder().encode(mode.secret) : undefined;

  const signPayload = async (payload: JWTPayload): Promise<string> => {
    if (mode.alg === 'HS256') {
      return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(hmacKey!);
    }
    const { kid, key } = await mode.keys.current();
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(key);
  };

  // Verified tokens, until they expire or the key set changes: an ES256 verification is a
  // fifth of a request's CPU, and clients send the same token many times. Safe to skip the
  // signature check on a hit because revocation is decided in the database per request.
  const verifiedCache = new Map<string, { verified: Verified; exp: number; generation: number }>();
  const generation = () => (mode.alg === 'ES256' ? mode.keys.generation() : 0);

  const keyFor = async (header: JWTHeaderParameters): Promise<CryptoKey | Uint8Array> => {
    if (mode.alg === 'HS256') return hmacKey!;
    const key =
      typeof header.kid === 'string' && header.kid.length <= 128 ? await mode.keys.verifier(header.kid) : null;
    if (!key) throw new Error('unknown kid');
    return key;
  };

  const claimsOf = (s: TokenSubject): AccessClaims => {
    const iat = Math.floor(Date.now() / 1000);
    return {
      iss: opts.issuer,
      sub: s.userId,
      aud: 'authenticated',
      exp: iat + opts.ttlS,
      iat,
      role: 'authenticated',
      email: s.email,
      session_id: s.sessionId,
      app_metadata: s.appMetadata,
      user_metadata: s.userMetadata,
      aal: s.aal,
      amr: s.amr,
      is_anonymous: s.isAnonymous,
      // For clients only: policies check membership (auth.is_member), never this claim.
      ...(s.orgId ? { org_id: s.orgId } : {}),
    };
  };

  return {
    ttlS: opts.ttlS,
    claims: claimsOf,
    signClaims: (claims) => signPayload(claims),
    async sign(s) {
      const claims = claimsOf(s);
      return { token: await signPayload(claims), claims };
    },
    async signServiceRole(ttlS) {
      const iat = Math.floor(Date.now() / 1000);
      return signPayload({ iss: opts.issuer, role: 'service_role', iat, exp: iat + ttlS });
    },
    async verify(token) {
      if (token.length > MAX_TOKEN_LENGTH) throw new TokenRefused(`longer than ${MAX_TOKEN_LENGTH} characters`);
      const hit = verifiedCache.get(token);
      if (hit && hit.exp > Date.now() / 1000 && hit.generation === generation()) return hit.verified;
      if (hit) verifiedCache.delete(token);
      const verified = await verifyUncached(token);
      if (verifiedCache.size >= VERIFIED_CACHE_SIZE) {
        const oldest = verifiedCache.keys().next().value;
        if (oldest !== undefined) verifiedCache.delete(oldest);
      }
      verifiedCache.set(token, { verified, exp: verified.claims.exp, generation: generation() });
      return verified;
    },
  };

  async function verifyUncached(token: string): Promise<Verified> {
    if (opts.external) {
      // The unverified iss only chooses which keys and rules apply; everything is then
      // verified against that issuer's own key set.
      let iss: unknown;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        throw new TokenRefused('not a JWT');
      }
      if (typeof iss === 'string' && iss !== opts.issuer && opts.external.trusts(iss)) {
        return { kind: 'external', claims: await opts.external.verify(token, iss) };
      }
    }
    try {
      const { payload } = await jwtVerify(token, keyFor, {
        algorithms: [mode.alg],
        issuer: opts.issuer,
        requiredClaims: ['exp', 'iat', 'role'],
      });
      if (payload.role === 'service_role' && payload.sub === undefined) {
        return { kind: 'service', claims: payload as unknown as ServiceClaims };
      }
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (
        // A role the allow-list no longer holds is refused, so shrinking it takes effect.
        typeof payload.role !== 'string' ||
        !userRoles.has(payload.role) ||
        !aud.includes('authenticated') ||
        !isUuid(payload.sub) ||
        !isUuid(payload.session_id)
      ) {
        throw new Error('unexpected claims');
      }
      return { kind: 'user', claims: payload as unknown as AccessClaims };
    } catch (err) {
      // jose names the failed check ("exp" claim timestamp check failed, signature
      // verification failed, …); its messages never carry the token.
      throw new TokenRefused(err instanceof Error ? err.message.slice(0, 200) : 'did not verify');
    }
  }
}
