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

export const schema = builder.toSchema({ sortSchema: false });
