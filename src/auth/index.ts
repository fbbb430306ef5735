import type { Config } from '../config.js';
import type { Pools } from '../db/client.js';
import type { Provisioned } from '../db/migrate.js';
import type { Logger } from '../log.js';
import type { Mailer } from '../mail/mailer.js';
import { type AccessTokens, createAccessTokens } from './access-token.js';
import { createCaptcha } from './captcha.js';
import type { AuthDeps } from './deps.js';
import { createDiscovery } from './discovery.js';
import { createExternalVerifier } from './external.js';
import { createAuthService } from './flows/account/index.js';
import { createAdminService } from './flows/admin/index.js';
import { createEmailFlows } from './flows/email/index.js';
import { createIdentityService } from './flows/identities/index.js';
import { createMfaService } from './flows/mfa/index.js';
import { createOidcBroker } from './flows/oidc/index.js';
import { createOrganizationFlows } from './flows/organizations/index.js';
import { createPasskeyService } from './flows/passkeys/index.js';
import { createGrants } from './grants.js';
import { watchLegacyHashes } from './legacy-hashes.js';
import { type Maintenance, startMaintenance } from './maintenance.js';
import { createPasswordHasher } from './password.js';
import { createQueue } from './queue.js';
import { createRateLimiter, type LimitName } from './rate-limit.js';
import { createKeyStore, type KeyStore, type SealingKeys } from './signing-keys.js';

export type Auth = Awaited<ReturnType<typeof createAuth>>;

/**
 * Everything of the auth path, built once at start-up from the auth pool: the primitives
 * (signing keys, access tokens, rate limits, password hashing, the queue) and the flows,
 * bound to them, grouped as the GraphQL layer calls them (`ctx.auth.signIn(...)`).
 */
export async function createAuth(input: {
  pools: Pick<Pools, 'auth' | 'authSql'>;
  config: Config;
  sealing: SealingKeys;
  secrets: Pick<Provisioned, 'jwtSecret' | 'refreshKey'>;
  mailer: Mailer;
  log: Logger;
  onLimited: (limit: LimitName) => void;
}) {
  const { pools, config, sealing, secrets, mailer, log } = input;
  const keys: KeyStore | undefined =
    config.jwt.alg === 'ES256'
      ? createKeyStore(pools.authSql, sealing, config.jwt.accessTtlS, config.jwt.keysReloadS)
      : undefined;
  await keys?.ready();
  const legacy = watchLegacyHashes(pools.authSql, log);
  await legacy.refresh();
  const discover = createDiscovery();
  const tokens: AccessTokens = createAccessTokens({
    mode: keys ? { alg: 'ES256', keys } : { alg: 'HS256', secret: config.jwt.secret ?? secrets.jwtSecret },
    issuer: config.jwt.issuer,
    ttlS: config.jwt.accessTtlS,
    roles: config.accessTokenHook?.roles,
    external: config.trustedIssuers.length > 0 ? createExternalVerifier(config.trustedIssuers, discover) : undefined,
  });
  const deps: AuthDeps = {
    db: pools.auth,
    config,
    tokens,
    grants: createGrants({ tokens, config, log }),
    passwords: createPasswordHasher(config.argon2, legacy.present),
    limiter: createRateLimiter(pools.authSql, config.rateLimits, input.onLimited),
    mailer,
    queue: createQueue(log),
    log,
    serverKey: secrets.refreshKey,
    discover,
  };
  const email = createEmailFlows(deps);
  const flows = {
    auth: createAuthService({ ...deps, email }),
    email,
    identities: createIdentityService(deps),
    mfa: createMfaService(deps),
    passkeys: createPasskeyService(deps),
    oidc: createOidcBroker(deps),
    organizations: createOrganizationFlows(deps),
    admin: createAdminService(deps.db, config),
  };
  const maintenance: Maintenance = startMaintenance(deps.db, config, log);
  return {
    ...flows,
    captcha: createCaptcha(config.captcha, log),
    keys,
    tokens,
    maintenance,
    /** Resolves when queued work and its mails are done. */
    idle: email.idle,
    stop: () => {
      keys?.stop();
      maintenance.stop();
      legacy.stop();
    },
  };
}
