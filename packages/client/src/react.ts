import { createContext, createElement, type ReactNode, useCallback, useContext, useSyncExternalStore } from 'react';
import type { AuthClient } from './client.js';
import type { Session, User } from './types.js';

// Thin on purpose: the client keeps the session and its events; React only subscribes to them.

const AuthContext = createContext<AuthClient | null>(null);

/** Makes `client` the one `useSession`, `useUser` and `useAuthClient` read below it. */
export function AuthProvider({ client, children }: { client: AuthClient; children?: ReactNode }): ReactNode {
  return createElement(AuthContext.Provider, { value: client }, children);
}

export function useAuthClient(): AuthClient {
  const client = useContext(AuthContext);
  if (!client) throw new Error('useAuthClient, useSession and useUser need an <AuthProvider client={…}> above them.');
  return client;
}

/** The current session (null when signed out), re-rendering on every auth-state event. */
export function useSession(): Session | null {
  const client = useAuthClient();
  const subscribe = useCallback(
    (onChange: () => void) => {
      const { unsubscribe } = client.onAuthStateChange(onChange);
      return () => void unsubscribe();
    },
    [client],
  );
  const snapshot = () => client.session;
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}

/** The signed-in user, or null. */
export function useUser(): User | null {
  return useSession()?.user ?? null;
}
