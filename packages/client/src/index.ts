export { AuthClient, type AuthClientOptions, createAuthClient } from './client.js';
export { DOCUMENTS } from './documents.js';
export { AuthgateError, type ErrorCode, errorCode, type GraphQLErrorEntry, ProviderSignInError } from './errors.js';
export type { CrossTabLock, Lock } from './lock.js';
export type { LandingUrl } from './pkce.js';
export { defaultStorage, memoryStorage, type SessionStorage } from './storage.js';
export type {
  AuthChangeEvent,
  AuthPayload,
  AuthStateListener,
  Document,
  ResultOf,
  Session,
  User,
  VariablesArgs,
} from './types.js';
