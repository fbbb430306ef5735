/** Runs `fn` while holding the lock `name`; callers of one name run one at a time. */
export type Lock = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

/**
 * How long a tab waits for another tab's refresh before going ahead without the lock: longer than
 * a refresh's own timeout, so only a tab frozen while holding it makes others wait this long.
 */
const ACQUIRE_TIMEOUT_MS = 20_000;

type LockManager = {
  request<T>(name: string, options: { signal?: AbortSignal }, fn: () => Promise<T>): Promise<T>;
};

const webLocks = (): LockManager | undefined =>
  (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;

/** One holder at a time within this page (or Node process). */
export function processLock(): Lock {
  const tails = new Map<string, Promise<unknown>>();
  return (name, fn) => {
    const before = tails.get(name) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => {});
    tails.set(name, tail);
    void tail.then(() => {
      if (tails.get(name) === tail) tails.delete(name);
    });
    return run;
  };
}

/**
 * The Web Locks API: one holder across every tab and worker of the origin, released by the
 * browser if the holder's tab closes.
 */
export function webLock(locks: LockManager): Lock {
  return async (name, fn) => {
    try {
      return await locks.request(name, { signal: AbortSignal.timeout(ACQUIRE_TIMEOUT_MS) }, fn);
    } catch (err) {
      // Waited too long for a tab that is not letting go: refreshing without the lock risks a
      // second exchange, which the gateway's reuse interval forgives; waiting forever does not.
      if ((err as { name?: string }).name === 'TimeoutError') return fn();
      throw err;
    }
  };
}

/**
 * For browsers without Web Locks: a lease in `localStorage` that other tabs see. Best effort: two
 * tabs writing in the same instant both wait a moment and read back, and only the one whose
 * write stuck goes ahead; a lease left by a closed tab expires.
 */
export function storageLock(storage: Storage, local: Lock = processLock()): Lock {
  const LEASE_MS = 15_000;
  const me = Math.random().toString(36).slice(2);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const read = (key: string): { owner: string; until: number } | null => {
    try {
      return JSON.parse(storage.getItem(key) ?? 'null') as { owner: string; until: number } | null;
    } catch {
      return null;
    }
  };
  return (name, fn) =>
    local(name, async () => {
      const key = `${name}:lease`;
      const giveUpAt = Date.now() + ACQUIRE_TIMEOUT_MS;
      let held = false;
      while (!held && Date.now() < giveUpAt) {
        const lease = read(key);
        if (lease === null || lease.until < Date.now()) {
          storage.setItem(key, JSON.stringify({ owner: me, until: Date.now() + LEASE_MS }));
          // Another tab may have written in the same instant: the last write wins, so read back.
          await sleep(40 + Math.random() * 40);
          held = read(key)?.owner === me;
        } else {
          await sleep(50);
        }
      }
      try {
        return await fn();
      } finally {
        if (read(key)?.owner === me) storage.removeItem(key);
      }
    });
}

export type CrossTabLock = 'auto' | 'web-locks' | 'storage' | 'none' | Lock;

/** `auto`: Web Locks where the browser has them, else a `localStorage` lease, else this page only. */
export function chooseLock(choice: CrossTabLock, local: Storage | null): Lock {
  if (typeof choice === 'function') return choice;
  const locks = webLocks();
  if ((choice === 'auto' || choice === 'web-locks') && locks) return webLock(locks);
  if ((choice === 'auto' || choice === 'storage') && local) return storageLock(local);
  return processLock();
}
