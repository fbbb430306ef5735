import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { Logger } from '../log.js';
import type { Mailer } from '../mail/mailer.js';
import type { AccessTokens } from './access-token.js';
import type { Discover } from './discovery.js';
import type { Grants } from './grants.js';
import type { PasswordHasher } from './password.js';
import type { Queue } from './queue.js';
import type { RateLimiter } from './rate-limit.js';

/**
 * What every auth flow may use. `db` is the auth path's pool, whose login role alone may
 * read and write schema auth: it reaches the flows through here and nowhere else.
 */
export type AuthDeps = {
  db: Db;
  config: Config;
  tokens: AccessTokens;
  grants: Grants;
  passwords: PasswordHasher;
  limiter: RateLimiter;
  mailer: Mailer;
  queue: Queue;
  log: Logger;
  /** The server secret that keys HMACs of mailed codes and, derived, TOTP secrets. */
  serverKey: string;
  discover: Discover;
};
