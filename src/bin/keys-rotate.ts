import { rotateSigningKey } from '../auth/signing-keys.js';
import { migrateAndProvision } from '../db/migrate.js';
import { withAdminSql } from './admin-db.js';

/** `npm run keys:rotate`: a new ES256 signing key; the previous one verifies until its tokens expire. */
await withAdminSql(async (sql, url) => {
  await migrateAndProvision(url);
  const kid = await rotateSigningKey(sql);
  console.log(`new signing key ${kid}; running gateways sign with it within a minute`);
});
