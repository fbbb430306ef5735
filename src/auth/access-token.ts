import { jwtVerify, SignJWT } from 'jose';
import { AuthError } from './errors.js';

export type AccessClaims = {
  iss: string;
  sub: string;
  aud: 'authenticated';
  exp: number;
  iat: number;
  role: 'authenticated';
  email: string;
  session_id: string;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
  aal: 'aal1' | 'aal2';
  amr: Array<{ method: string; timestamp: number }>;
  is_anonymous: boolean;
};

export type TokenSubject = {
  userId: string;
  email: string;
  sessionId: string;
  appMetadata: Record<string, unknown>;
  userMetadata: Record<string, unknown>;
  amr: AccessClaims['amr'];
};

export type AccessTokens = {
  ttlS: number;
  sign: (subject: TokenSubject) => Promise<{ token: string; claims: AccessClaims }>;
  /** Verified claims, or UNAUTHENTICATED; never decodes without verifying. */
  verify: (token: string) => Promise<AccessClaims>;
};

// Far above any token we issue; bounds the work a stranger can make us do.
const MAX_TOKEN_LENGTH = 8192;
const ALGORITHMS = ['HS256'];

/** HS256 access tokens with the Supabase claim set. */
export function createAccessTokens(opts: { secret: string; issuer: string; ttlS: number }): AccessTokens {
  const key = new TextEncoder().encode(opts.secret);
  return {
    ttlS: opts.ttlS,
    async sign(s) {
      const iat = Math.floor(Date.now() / 1000);
      const claims: AccessClaims = {
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
        aal: 'aal1',
        amr: s.amr,
        is_anonymous: false,
      };
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);
      return { token, claims };
    },
    async verify(token) {
      if (token.length > MAX_TOKEN_LENGTH) throw new AuthError('UNAUTHENTICATED');
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ALGORITHMS,
          issuer: opts.issuer,
          audience: 'authenticated',
          requiredClaims: ['sub', 'exp', 'iat', 'session_id', 'role'],
        });
        if (payload.role !== 'authenticated' || typeof payload.session_id !== 'string' || !isUuid(payload.sub)) {
          throw new Error('unexpected claims');
        }
        return payload as unknown as AccessClaims;
      } catch {
        throw new AuthError('UNAUTHENTICATED');
      }
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
