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

const LEASE_MS = 15_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let records: Promise<IDBDatabase> | undefined;
/** The origin's IndexedDB store of leases and hand-offs, opened once per page. */
const openRecords = (factory: IDBFactory): Promise<IDBDatabase> =>
  (records ??= new Promise<IDBDatabase>((resolve, reject) => {
    const req = factory.open('authgate-locks', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('leases');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  }));

/**
 * Reads the record `key` and lets `decide` write it, in one read-write transaction: such
 * transactions on one store run one at a time across every tab of the origin. Get and put stay
 * inside the transaction's callbacks, since awaiting between them could let it commit.
 */
function inTransaction<R>(
  db: IDBDatabase,
  key: string,
  decide: (store: IDBObjectStore, record: R | undefined) => boolean,
) {
  return new Promise<boolean>((resolve, reject) => {
    const tx = db.transaction('leases', 'readwrite');
    const store = tx.objectStore('leases');
    let outcome = false;
    const get = store.get(key);
    get.onsuccess = () => {
      outcome = decide(store, get.result as R | undefined);
    };
    tx.oncomplete = () => resolve(outcome);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/**
 * For browsers without Web Locks: a lease in IndexedDB, read and taken atomically (see
 * inTransaction); a lease left by a closed tab expires. Not in `localStorage`: with no atomic
 * read-and-write across tabs, a lease there let five Chromium tabs on a busy machine each see its
 * own write win.
 */
export function indexedDbLock(factory: IDBFactory, local: Lock = processLock()): Lock {
  const me = Math.random().toString(36).slice(2);
  /** Takes the lease `key` when it is free (or gives it back): whether this tab holds it now. */
  const lease = async (key: string, giveBack: boolean): Promise<boolean> => {
    const db = await openRecords(factory).catch(() => null);
    // IndexedDB refused (some private modes): this tab goes ahead alone, and the gateway's reuse
    // interval forgives a second exchange.
    if (!db) return !giveBack;
    return inTransaction<{ owner: string; until: number }>(db, key, (store, held) => {
      const mine = held?.owner === me;
      if (giveBack || (held && held.until > Date.now() && !mine)) {
        if (giveBack && mine) store.delete(key);
        return false;
      }
      store.put({ owner: me, until: Date.now() + LEASE_MS }, key);
      return true;
    });
  };
  return (name, fn) =>
    local(name, async () => {
      const key = `${name}:lease`;
      const giveUpAt = Date.now() + ACQUIRE_TIMEOUT_MS;
      let held = false;
      while (!held && Date.now() < giveUpAt) {
        held = await lease(key, false).catch(() => false);
        if (!held) await sleep(50);
      }
      try {
        return await fn();
      } finally {
        if (held) await lease(key, true).catch(() => {});
      }
    });
}

/**
 * What a holder of the renewal lock leaves the next one: the access tokens it replaced (renewed or
 * signed out). A tab's `localStorage` learns of another tab's write a moment later, and on a busy
 * machine after that tab has let go of the lock; an IndexedDB read sees every committed write. So
 * the next holder, reading a replaced token from storage, knows to wait for storage to catch up
 * instead of spending the refresh token again. No-ops without IndexedDB (Node, some private modes).
 */
export type Handoff = {
  replaced(name: string, accessToken: string): Promise<void>;
  wasReplaced(name: string, accessToken: string): Promise<boolean>;
};

export function handoff(): Handoff {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  const db = () => (factory ? openRecords(factory).catch(() => null) : Promise.resolve(null));
  // The signature's tail names the token; the record holds no token an attacker could present.
  const id = (token: string) => token.slice(-24);
  return {
    replaced: async (name, accessToken) => {
      const d = await db();
      if (!d) return;
      await inTransaction<string[]>(d, `${name}:replaced`, (store, ids) => {
        store.put([id(accessToken), ...(ids ?? [])].slice(0, 8), `${name}:replaced`);
        return true;
      }).catch(() => {});
    },
    wasReplaced: async (name, accessToken) => {
      const d = await db();
      if (!d) return false;
      return inTransaction<string[]>(
        d,
        `${name}:replaced`,
        (_store, ids) => ids?.includes(id(accessToken)) ?? false,
      ).catch(() => false);
    },
  };
}

export type CrossTabLock = 'auto' | 'web-locks' | 'storage' | 'none' | Lock;

/** `auto`: Web Locks where the browser has them, else a lease in IndexedDB, else this page only. */
export function chooseLock(choice: CrossTabLock): Lock {
  if (typeof choice === 'function') return choice;
  const locks = webLocks();
  if ((choice === 'auto' || choice === 'web-locks') && locks) return webLock(locks);
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if ((choice === 'auto' || choice === 'storage') && idb) return indexedDbLock(idb);
  return processLock();
}
