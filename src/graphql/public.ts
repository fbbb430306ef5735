// What an app adds its GraphQL types and fields with (`import … from 'authgate/builder'`).
export type { Context, Viewer } from '../context.js';
export type { RequestDb } from '../db/request-db.js';
export { builder, type NativeSessionContext, type SignedInContext } from './builder.js';
export { type Connection, connectionType, keysetPage, pageArgs } from './connection.js';
export { Profile } from './profile.js';
export { User } from './user.js';
