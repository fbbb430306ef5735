import { builder } from './builder.js';
import './scalars.js';
import './profile.js';
import './user.js';
import './auth.js';
import './session.js';
import './account.js';
import './admin.js';
import './identity.js';
import './email.js';
import './mfa.js';
import './audit.js';
import './passkeys.js';
import './organizations.js';

import type { GraphQLSchema } from 'graphql';
import { refreshTokensInCookie } from './refresh-token-cookie.js';

let built: GraphQLSchema | undefined;

/**
 * The schema: ours, and whatever an app's modules added to the builder before the first
 * call (they must be imported first; the gateway imports them before it builds).
 */
export function buildSchema(): GraphQLSchema {
  // Once: the cookie wrap changes resolvers in place, and must not wrap them twice.
  built ??= refreshTokensInCookie(builder.toSchema({ sortSchema: false }));
  return built;
}
