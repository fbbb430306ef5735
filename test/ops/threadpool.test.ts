import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const PROBE = fileURLToPath(new URL('../fixtures/threadpool-probe.mjs', import.meta.url));
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
// Node 20's module loader reads the entry's files on libuv's pool, which starts it at its
// default size before any of authgate's code runs; there the size must be set before node
// starts (docs/operations.md, "Memory"). Node's type stripping (22.18) runs the probe as is.
const startsPoolLate = major > 22 || (major === 22 && minor >= 18);

/** libuv's pool threads in a fresh process that called sizeThreadPool(maxConcurrent). */
async function poolThreads(maxConcurrent: number, preset?: string): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, MAX_CONCURRENT: String(maxConcurrent) };
  delete env.UV_THREADPOOL_SIZE;
  if (preset) env.UV_THREADPOOL_SIZE = preset;
  const { stdout } = await promisify(execFile)(process.execPath, [PROBE], { env, timeout: 30_000 });
  return (JSON.parse(stdout) as { poolThreads: number }).poolThreads;
}

// Each pool thread that has hashed keeps argon2's 19 MiB, so the pool is as large as the hashes
// that may run at once plus one for WebCrypto, DNS and files: 3 threads, not libuv's 4.
describe.skipIf(!startsPoolLate)(`libuv's pool (Node ${process.versions.node})`, () => {
  it('has one thread more than ARGON2_MAX_CONCURRENT, and an operator-set UV_THREADPOOL_SIZE wins', async () => {
    const [two, one, preset] = await Promise.all([poolThreads(2), poolThreads(1), poolThreads(2, '6')]);
    expect([two, one, preset]).toEqual([3, 2, 6]);
  });
});
