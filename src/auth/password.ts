import argon2 from 'argon2';
import type { Config } from '../config.js';

export type PasswordHasher = {
  hash: (password: string) => Promise<string>;
  /** True only for a real hash that matches; an absent hash still costs one verify. */
  verify: (hash: string | null, password: string) => Promise<boolean>;
};

/**
 * argon2id with the configured cost. Hashes run on libuv's shared thread pool, so at most
 * `maxConcurrent` run at once and the rest wait here: a sign-in storm must not starve the
 * pool threads that DNS and fs need.
 */
export function createPasswordHasher(cfg: Config['argon2']): PasswordHasher {
  const options = {
    type: argon2.argon2id as 2,
    memoryCost: cfg.memoryKiB,
    timeCost: cfg.timeCost,
    parallelism: cfg.parallelism,
  };
  const limit = semaphore(cfg.maxConcurrent);
  // Same parameters as real hashes, so an unknown email costs what a wrong password costs.
  let dummy: Promise<string> | undefined;
  const dummyHash = () => {
    dummy ??= argon2.hash('authgate-dummy-password', options);
    return dummy;
  };
  return {
    hash: (password) => limit(() => argon2.hash(password, options)),
    verify: async (hash, password) => {
      const target = hash ?? (await dummyHash());
      const ok = await limit(() => argon2.verify(target, password).catch(() => false));
      return ok && hash !== null;
    },
  };
}

function semaphore(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (active >= max) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
