// What an app declares its tables and policies with (`import … from 'authgate/drizzle'`).
export { anonRole, authenticatedRole, profiles, users } from './schema.js';
