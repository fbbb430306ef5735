import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import type { TrustedIssuer } from '../config.js';
import type { Discover } from './discovery.js';
import { AuthError } from './errors.js';

/** Who a trusted issuer says the bearer is; mapped to one of our users per request. */
export type ExternalIdentity = {
  provider: string;
  issuer: string;
  subject: string;
  email: string | null;
  /** The issuer's email_verified claim; null when it has none. */
  emailVerified: boolean | null;
  iat: number;
  exp: number;
};

export type ExternalVerifier = {
  trusts: (issuer: string) => boolean;
  verify: (token: string, issuer: string) => Promise<ExternalIdentity>;
};

const SUBJECT_MAX = 255;

/**
 * Access tokens of other identity providers (Clerk, Logto, Auth0, Keycloak…), verified
 * against each issuer's JWKS: only the configured algorithms and audiences pass. jose's
 * remote key set caches the keys, times out slow fetches and refetches on an unknown kid
 * at most once per cool-down, so a flood of made-up kids costs the issuer nothing.
 */
export function createExternalVerifier(issuers: TrustedIssuer[], discover: Discover): ExternalVerifier {
  const byIssuer = new Map(
    issuers.map((cfg) => {
      let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
      const keySet = async () => {
        if (jwks) return jwks;
        const url = cfg.jwksUrl ?? (await discover(cfg.issuer, cfg.jwksTimeoutMs)).jwks_uri;
        jwks = createRemoteJWKSet(new URL(url), {
          timeoutDuration: cfg.jwksTimeoutMs,
          cooldownDuration: cfg.jwksCooldownS * 1000,
        });
        return jwks;
      };
      return [cfg.issuer, { cfg, keySet }] as const;
    }),
  );

  return {
    trusts: (issuer) => byIssuer.has(issuer),
    async verify(token, issuer) {
      const entry = byIssuer.get(issuer);
      if (!entry) throw new AuthError('UNAUTHENTICATED');
      const { cfg } = entry;
      let payload: JWTPayload;
      try {
        const jwks = await entry.keySet();
        ({ payload } = await jwtVerify(token, jwks, {
          issuer: cfg.issuer,
          audience: cfg.audiences,
          algorithms: cfg.algorithms,
          requiredClaims: ['exp'],
          clockTolerance: 5,
        }));
      } catch {
        throw new AuthError('UNAUTHENTICATED');
      }
      const subject = payload[cfg.userIdClaim];
      if (typeof subject !== 'string' || subject.length === 0 || subject.length > SUBJECT_MAX) {
        throw new AuthError('UNAUTHENTICATED');
      }
      const email = payload[cfg.emailClaim];
      return {
        provider: cfg.name,
        issuer: cfg.issuer,
        subject,
        email: typeof email === 'string' && email.length <= 320 ? email : null,
        emailVerified: typeof payload.email_verified === 'boolean' ? payload.email_verified : null,
        iat: typeof payload.iat === 'number' ? payload.iat : Math.floor(Date.now() / 1000),
        exp: payload.exp as number,
      };
    },
  };
}
