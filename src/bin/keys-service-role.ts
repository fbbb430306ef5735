import { createAccessTokens } from '../auth/access-token.js';
import { createKeyStore } from '../auth/signing-keys.js';
import { migrateAndProvision } from '../db/migrate.js';
import { withAdminSql } from './admin-db.js';

/**
 * `npm run keys:service-role`: prints a long-lived service-role JWT (Postgres role
 * service_role, which bypasses RLS). Treat it like a database password; it is signed by the
 * current key, so mint a new one after `keys:rotate` (the old one stops verifying once the
 * retired key leaves the set).
 */
await withAdminSql(async (sql, url, config) => {
  const secrets = await migrateAndProvision(url);
  const keys = config.jwt.alg === 'ES256' ? createKeyStore(sql, config.jwt.accessTtlS) : undefined;
  try {
    const tokens = createAccessTokens({
      mode: keys ? { alg: 'ES256', keys } : { alg: 'HS256', secret: config.jwt.secret ?? secrets.jwtSecret },
      issuer: config.jwt.issuer,
      ttlS: config.jwt.accessTtlS,
    });
    process.stdout.write(`${await tokens.signServiceRole(config.serviceRoleTokenTtlS)}\n`);
  } finally {
    keys?.stop();
  }
});
