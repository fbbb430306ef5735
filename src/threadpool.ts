/**
 * Sizes libuv's thread pool for the processes authgate starts itself, unless UV_THREADPOOL_SIZE
 * is already set: one thread more than the hashes that may run at once. Each pool thread that
 * has run an argon2 hash keeps its 19 MiB in its own glibc arena after the hash, so a pool of
 * libuv's default four held about 76 MB after a burst of sign-ins, while only
 * ARGON2_MAX_CONCURRENT of them hash at any moment. The one thread beyond those keeps WebCrypto
 * (jose signs and verifies tokens there), DNS lookups and file reads from queueing behind hashes.
 *
 * libuv reads the variable once, when the pool first gets work. Node 22 and later load the
 * entry's modules without it, so this takes effect when called before the first hash, lookup or
 * file read; Node 20's module loader and tsx's read files on the pool, and there the variable
 * must be set before node starts. Workers forked after this call start with it on any Node. It is
 * process.env, whatever environment the config was read from: libuv reads the process's own.
 */
export function sizeThreadPool(argon2MaxConcurrent: number): void {
  if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(argon2MaxConcurrent + 1);
}
