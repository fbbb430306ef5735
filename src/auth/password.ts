import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import type { Config } from '../config.js';
import { hashKind } from './password-formats.js';

export type PasswordHasher = {
  hash: (password: string) => Promise<string>;
  /**
   * True only for a real hash that matches; an absent or unverifiable hash still costs one
   * verify. While bcrypt hashes remain (`legacyPresent`), every verify costs one argon2 and
   * one bcrypt, whichever is real, so the time does not tell which kind an account has, or
   * whether it exists.
   */
  verify: (hash: string | null, password: string) => Promise<boolean>;
  /** A hash verified just now that is not argon2id with the configured cost: rehash it. */
  needsUpgrade: (hash: string) => boolean;
};

/** The cost of the dummy bcrypt: what Supabase and Auth0 write. */
const DUMMY_BCRYPT_COST = 10;

/**
 * argon2id with the configured cost. Hashes run on libuv's shared thread pool, so at most
 * `maxConcurrent` run at once and the rest wait here: a sign-in storm must not starve the
 * pool threads that DNS and fs need. bcrypt (imported accounts, until their first sign-in
 * rehashes them) runs in JavaScript, yielding between rounds, under the same limit.
 * `legacyPresent` says whether any bcrypt hash may still be stored.
 */
export function createPasswordHasher(
  cfg: Config['argon2'],
  legacyPresent: () => boolean = () => false,
): PasswordHasher {
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
  let dummyBcrypt: Promise<string> | undefined;
  const dummyBcryptHash = () => {
    dummyBcrypt ??= bcrypt.hash('authgate-dummy-password', DUMMY_BCRYPT_COST);
    return dummyBcrypt;
  };
  const argonVerify = async (hash: string, password: string) =>
    limit(() => argon2.verify(hash, password).catch(() => false));
  // $2y$ is PHP's name for $2b$: the same algorithm, which bcryptjs knows as $2b$.
  const bcryptVerify = async (hash: string, password: string) =>
    limit(() => bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$')).catch(() => false));
  return {
    hash: (password) => limit(() => argon2.hash(password, options)),
    verify: async (hash, password) => {
      const kind = hash === null ? null : hashKind(hash);
      const pad = legacyPresent();
      if (hash !== null && kind === 'bcrypt') {
        const ok = await bcryptVerify(hash, password);
        if (pad) await argonVerify(await dummyHash(), password);
        return ok;
      }
      const ok = await argonVerify(hash !== null && kind === 'argon2' ? hash : await dummyHash(), password);
      if (pad) await bcryptVerify(await dummyBcryptHash(), password);
      return ok && hash !== null && kind === 'argon2';
    },
    needsUpgrade: (hash) => {
      if (!hash.startsWith('$argon2id$')) return true;
      try {
        return argon2.needsRehash(hash, options);
      } catch {
        return true; // a form it cannot read: ours replaces it
      }
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
