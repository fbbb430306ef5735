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
  const local = browserLocalStorage();
  return local ?? memoryStorage();
}

export function browserLocalStorage(): Storage | null {
  try {
    const local = (globalThis as { localStorage?: Storage }).localStorage;
    if (!local) return null;
    const probe = '__authgate_probe__';
    local.setItem(probe, probe);
    local.removeItem(probe);
    return local;
  } catch {
    return null;
  }
}
