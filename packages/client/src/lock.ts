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

type LeaseRecord = { owner: string; until: number };
/** Takes the lease `key` for `owner` unless another live owner holds it; resolves to whether it is held. */
type Take = (key: string, owner: string) => Promise<boolean>;
type Release = (key: string, owner: string) => Promise<void>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const free = (lease: LeaseRecord | null | undefined, owner: string): boolean =>
  !lease || lease.until < Date.now() || lease.owner === owner;

/** A lease other tabs see: waits for it (a lease left by a closed tab expires), runs `fn`, gives it back. */
function leaseLock(take: Take, release: Release, local: Lock): Lock {
  const me = Math.random().toString(36).slice(2);
  return (name, fn) =>
    local(name, async () => {
      const key = `${name}:lease`;
      const giveUpAt = Date.now() + ACQUIRE_TIMEOUT_MS;
      let held = false;
      while (!held && Date.now() < giveUpAt) {
        held = await take(key, me).catch(() => false);
        if (!held) await sleep(50);
      }
      try {
        return await fn();
      } finally {
        if (held) await release(key, me).catch(() => {});
      }
    });
}

/**
 * For browsers without Web Locks: a lease in IndexedDB, whose read-write transactions on one store
 * run one at a time across every tab of the origin, so reading and taking the lease is atomic.
 * Where IndexedDB cannot be opened (some private modes), the `localStorage` lease instead.
 */
export function indexedDbLock(factory: IDBFactory, fallback: Storage | null, local: Lock = processLock()): Lock {
  let database: Promise<IDBDatabase> | undefined;
  const open = () =>
    (database ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory.open('authgate-locks', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('leases');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    }));
  // get and put inside one transaction's callbacks: awaiting between them could let it commit.
  const inTransaction = (
    db: IDBDatabase,
    key: string,
    decide: (store: IDBObjectStore, lease: LeaseRecord | undefined) => boolean,
  ) =>
    new Promise<boolean>((resolve, reject) => {
      const tx = db.transaction('leases', 'readwrite');
      const store = tx.objectStore('leases');
      let outcome = false;
      const get = store.get(key);
      get.onsuccess = () => {
        outcome = decide(store, get.result as LeaseRecord | undefined);
      };
      tx.oncomplete = () => resolve(outcome);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  const viaStorage = fallback ? storageLease(fallback) : null;
  const take: Take = async (key, owner) => {
    const db = await open().catch(() => null);
    if (!db) return viaStorage ? viaStorage.take(key, owner) : true;
    return inTransaction(db, key, (store, lease) => {
      if (!free(lease, owner)) return false;
      store.put({ owner, until: Date.now() + LEASE_MS } satisfies LeaseRecord, key);
      return true;
    });
  };
  const release: Release = async (key, owner) => {
    const db = await open().catch(() => null);
    if (!db) return viaStorage?.release(key, owner);
    await inTransaction(db, key, (store, lease) => {
      if (lease?.owner === owner) store.delete(key);
      return true;
    });
  };
  return leaseLock(take, release, local);
}

/**
 * A lease in `localStorage`, which has no atomic read-and-write across tabs. Best effort: two tabs
 * writing in the same instant both wait a moment and read back, and only the one whose write
 * stuck goes ahead; a tab that sees another's write late (a busy machine) may go ahead too.
 */
function storageLease(storage: Storage): { take: Take; release: Release } {
  const read = (key: string): LeaseRecord | null => {
    try {
      return JSON.parse(storage.getItem(key) ?? 'null') as LeaseRecord | null;
    } catch {
      return null;
    }
  };
  return {
    take: async (key, owner) => {
      if (!free(read(key), owner)) return false;
      storage.setItem(key, JSON.stringify({ owner, until: Date.now() + LEASE_MS } satisfies LeaseRecord));
      // Another tab may have written in the same instant: the last write wins, so read back.
      await sleep(40 + Math.random() * 40);
      return read(key)?.owner === owner;
    },
    release: async (key, owner) => {
      if (read(key)?.owner === owner) storage.removeItem(key);
    },
  };
}

/** For browsers without Web Locks or IndexedDB: the `localStorage` lease alone. */
export function storageLock(storage: Storage, local: Lock = processLock()): Lock {
  const { take, release } = storageLease(storage);
  return leaseLock(take, release, local);
}

export type CrossTabLock = 'auto' | 'web-locks' | 'storage' | 'none' | Lock;

/**
 * `auto`: Web Locks where the browser has them, else a lease in the browser's storage (IndexedDB,
 * else `localStorage`), else this page only.
 */
export function chooseLock(choice: CrossTabLock, local: Storage | null): Lock {
  if (typeof choice === 'function') return choice;
  const locks = webLocks();
  if ((choice === 'auto' || choice === 'web-locks') && locks) return webLock(locks);
  if (choice === 'auto' || choice === 'storage') {
    const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (idb) return indexedDbLock(idb, local);
    if (local) return storageLock(local);
  }
  return processLock();
}
