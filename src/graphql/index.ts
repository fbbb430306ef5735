import { builder } from './builder.js';
import './scalars.js';
import './profile.js';
import './user.js';
import './auth.js';

export const schema = builder.toSchema({ sortSchema: false });
