import type { SessionStorage } from './storage.js';
import type { Session } from './types.js';

/**
 * The session as it is kept in storage, shared by every tab of the origin when the storage is
 * `localStorage`. Tabs learn of each other's writes from the `storage` event and, for any store,
 * from a BroadcastChannel message after each write.
 */
export class SessionStore {
  readonly #storage: SessionStorage;
  readonly #key: string;
  readonly #keepRefreshToken: boolean;
  #channel: BroadcastChannel | undefined;
  #onStorage: ((e: StorageEvent) => void) | undefined;
  /** The refresh token this tab holds when storage is told not to keep it. */
  #memoryRefreshToken: { userId: string; token: string } | null = null;

  constructor(storage: SessionStorage, key: string, keepRefreshToken: boolean) {
    this.#storage = storage;
    this.#key = key;
    this.#keepRefreshToken = keepRefreshToken;
  }

  async load(): Promise<Session | null> {
    let raw: string | null;
    try {
      raw = await this.#storage.getItem(this.#key);
    } catch {
      return null;
    }
    const session = parse(raw);
    if (session && session.refreshToken === null && this.#memoryRefreshToken?.userId === session.user.id) {
      return { ...session, refreshToken: this.#memoryRefreshToken.token };
    }
    return session;
  }

  /**
   * The stored session once it no longer holds `replaced`: another tab wrote its successor (or
   * signed out) before letting go of the lock, and this tab's copy of localStorage lags a moment.
   */
  async loadPast(replaced: string): Promise<Session | null> {
    const giveUpAt = Date.now() + 2_000;
    let stored = await this.load();
    while (stored?.accessToken === replaced && Date.now() < giveUpAt) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      stored = await this.load();
    }
    return stored;
  }

  async save(session: Session | null): Promise<void> {
    if (session === null) {
      this.#memoryRefreshToken = null;
      await this.#storage.removeItem(this.#key);
    } else {
      const kept = this.#keepRefreshToken ? session : { ...session, refreshToken: null };
      this.#memoryRefreshToken =
        !this.#keepRefreshToken && session.refreshToken
          ? { userId: session.user.id, token: session.refreshToken }
          : null;
      await this.#storage.setItem(this.#key, JSON.stringify({ v: 1, ...kept }));
    }
    this.#channel?.postMessage('changed');
  }

  /** Calls `onChange` when another tab (or another client on the same store) wrote the session. */
  watch(onChange: () => void): void {
    if (typeof BroadcastChannel !== 'undefined') {
      this.#channel = new BroadcastChannel(`authgate:${this.#key}`);
      this.#channel.onmessage = onChange;
    }
    const target = globalThis as { addEventListener?: (type: string, fn: (e: StorageEvent) => void) => void };
    if (typeof target.addEventListener === 'function') {
      this.#onStorage = (e) => {
        if (e.key === this.#key || e.key === null) onChange();
      };
      target.addEventListener('storage', this.#onStorage);
    }
  }

  close(): void {
    this.#channel?.close();
    this.#channel = undefined;
    if (this.#onStorage) {
      (
        globalThis as { removeEventListener?: (type: string, fn: (e: StorageEvent) => void) => void }
      ).removeEventListener?.('storage', this.#onStorage);
    }
  }
}

/** A stored session, or null for anything else (absent, another version, tampered into nonsense). */
function parse(raw: string | null): Session | null {
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Partial<Session> & { v?: number };
    if (s.v !== 1 || typeof s.accessToken !== 'string' || typeof s.expiresAt !== 'string') return null;
    if (typeof s.user?.id !== 'string') return null;
    return {
      accessToken: s.accessToken,
      refreshToken: typeof s.refreshToken === 'string' ? s.refreshToken : null,
      expiresAt: s.expiresAt,
      aal: typeof s.aal === 'string' ? s.aal : 'aal1',
      mfaRequired: s.mfaRequired === true,
      user: s.user,
    };
  } catch {
    return null;
  }
}

/**
 * The access token's lifetime from its own `iat` and `exp` (read, not verified: only the gateway
 * trusts a token). Infinity when unreadable, which leaves the configured margin in force.
 */
export function lifetimeMs(accessToken: string): number {
  try {
    const part = (accessToken.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part)) as { iat?: unknown; exp?: unknown };
    if (typeof claims.iat === 'number' && typeof claims.exp === 'number') return (claims.exp - claims.iat) * 1000;
  } catch {}
  return Number.POSITIVE_INFINITY;
}
