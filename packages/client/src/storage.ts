/**
 * Where the session is kept. `localStorage` and `sessionStorage` fit as they are; an async store
 * (React Native's AsyncStorage, IndexedDB, a native keychain) fits too.
 */
export type SessionStorage = {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
};

/** A store in a variable: gone on reload, shared with no other tab. */
export function memoryStorage(): SessionStorage {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => {
      items.set(key, value);
    },
    removeItem: (key) => {
      items.delete(key);
    },
  };
}

/**
 * `localStorage` when the page has a usable one (not in Node, not when the browser blocks it, as
 * some do for third-party frames), else memory.
 */
export function defaultStorage(): SessionStorage {
  return browserStorage('localStorage') ?? memoryStorage();
}

/** The browser's `localStorage` or `sessionStorage` if it works here, else null. */
export function browserStorage(which: 'localStorage' | 'sessionStorage'): Storage | null {
  try {
    const store = (globalThis as { localStorage?: Storage; sessionStorage?: Storage })[which];
    if (!store) return null;
    const probe = '__authgate_probe__';
    store.setItem(probe, probe);
    store.removeItem(probe);
    return store;
  } catch {
    return null;
  }
}
