/// <reference types="@pothos/core" preserve="true" />
/// <reference types="@pothos/plugin-scope-auth" preserve="true" />
// What an app adds its GraphQL types and fields with (`import … from 'authgate/builder'`).
// The references above keep Pothos's global types and the scope-auth plugin's additions
// (`t.withAuth`, `authScopes`) in this entry's declarations: an app's type check sees the
// builder as ours does, without importing the plugin itself.

// Expected failures, as a client sees them: `new AuthError('FORBIDDEN', 'message')` reaches
// the client with `extensions.code` (one of ERROR_CODES); any other error a resolver throws is
// masked as INTERNAL_SERVER_ERROR. `badInput(message, field)` is a BAD_USER_INPUT that names
// the argument in `extensions.field`.
export { AuthError, badInput, ERROR_CODES, type ErrorCode } from '../auth/errors.js';
export type { Context, Viewer } from '../context.js';
export { preparedQuery, type RequestDb } from '../db/request-db.js';
// Check an id before it reaches SQL: a failed ::uuid cast aborts the request's transaction.
export { isUuid } from '../shared/ids.js';
export { builder, type NativeSessionContext, type SignedInContext } from './builder.js';
export { type Connection, connectionType, keysetPage, pageArgs } from './connection.js';
export { Profile } from './profile.js';
export { User } from './user.js';
