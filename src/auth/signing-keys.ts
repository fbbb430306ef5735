import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type postgres from 'postgres';
import {
  privateJwkOf,
  type SealingKeys,
  type SigningKeyRow,
  sealPrivateJwk,
  sealSigningKeys,
} from './signing-key-sealing.js';

// Sealing lives apart (signing-key-sealing.ts); what callers import from here stays here.
export {
  loadSealingKeys,
  openPrivateJwk,
  type SealingKeys,
  sealSigningKeys,
} from './signing-key-sealing.js';

export type SigningKey = { kid: string; key: CryptoKey };

export type KeyStore = {
  /** The newest unretired key: it signs every new token. */
  current: () => Promise<SigningKey>;
  /** A key that may still verify tokens, or null (after one bounded reload for an unknown kid). */
  verifier: (kid: string) => Promise<CryptoKey | null>;
  /** The public keys whose tokens may still be live, for /.well-known/jwks.json. */
  jwks: () => Promise<{ keys: JWK[] }>;
  /** Loads the keys; start-up awaits it so no request waits on the first load. */
  ready: () => Promise<void>;
  /** Changes whenever the set of keys that verify changes (a cache of verified tokens keys on it). */
  generation: () => number;
  stop: () => void;
};

// Another instance may rotate at any time; an unknown kid triggers a reload, but at most
// this often, so a stream of forged kids cannot turn into a stream of queries.
const UNKNOWN_KID_COOLDOWN_MS = 5_000;
// JWKS readers (other services) must see a key as soon as any instance may sign with it.
const JWKS_MAX_AGE_MS = 2_000;

/**
 * ES256 keys kept in auth.signing_keys, so every instance signs and verifies with the same
 * set. A retired key keeps verifying for one access-token lifetime, then leaves the set.
 */
export function createKeyStore(
  sql: postgres.Sql,
  sealing: SealingKeys,
  accessTtlS: number,
  reloadEveryS = 60,
): KeyStore {
  const reloadEveryMs = reloadEveryS * 1000;
  let loaded: Promise<{ current: SigningKey; verifiers: Map<string, CryptoKey>; jwks: JWK[] }> | undefined;
  let loadedAt = 0;
  let signer: SigningKey | undefined;

  const load = async () => {
    const rows = await sql<SigningKeyRow[]>`
      select kid, public_jwk::text, private_jwk::text, sealed_private_jwk as sealed, retired_at is not null as retired
      from auth.signing_keys
      where alg = 'ES256' and (retired_at is null or retired_at > now() - make_interval(secs => ${accessTtlS}))
      order by created_at desc`;
    const active = rows.find((r) => !r.retired);
    if (!active) throw new Error('no active signing key');
    const verifiers = new Map<string, CryptoKey>();
    const jwks: JWK[] = [];
    for (const r of rows) {
      const jwk = { ...(JSON.parse(r.public_jwk) as JWK), kid: r.kid, alg: 'ES256', use: 'sig' };
      verifiers.set(r.kid, (await importJWK(jwk, 'ES256')) as CryptoKey);
      jwks.push(jwk);
    }
    // Only the signing key is opened, and only when it changes: an instance started before
    // SECRETS_KEY was rotated keeps signing after the others re-sealed its row.
    const current =
      signer?.kid === active.kid
        ? signer
        : { kid: active.kid, key: (await importJWK(privateJwkOf(sealing, active), 'ES256')) as CryptoKey };
    signer = current;
    return { current, verifiers, jwks };
  };

  // Stale-while-revalidate: once a set is loaded, callers get it at once and a reload runs
  // beside them. Signing must never wait for a connection (it may run while the pool is
  // full of requests that are themselves waiting to sign).
  let reloading: Promise<unknown> | undefined;
  let generation = 0;
  let kids = '';
  const reload = () => {
    reloading ??= load()
      .then((set) => {
        if ([...set.verifiers.keys()].join() !== kids) {
          kids = [...set.verifiers.keys()].join();
          generation++;
        }
        loaded = Promise.resolve(set);
      })
      .catch(() => {}) // keep serving the last good set
      .finally(() => {
        reloading = undefined;
        loadedAt = Date.now();
      });
    return reloading;
  };
  const get = async (maxAgeMs = reloadEveryMs) => {
    if (!loaded) {
      loadedAt = Date.now();
      loaded = load();
      loaded.catch(() => {
        loaded = undefined;
      });
      return loaded;
    }
    if (Date.now() - loadedAt > maxAgeMs) void reload();
    return loaded;
  };

  const timer = setInterval(() => void reload(), reloadEveryMs);
  timer.unref();

  return {
    current: async () => (await get()).current,
    verifier: async (kid) => {
      const known = (await get()).verifiers.get(kid);
      if (known || Date.now() - loadedAt < UNKNOWN_KID_COOLDOWN_MS) return known ?? null;
      // Verification runs outside any transaction, so it may wait for the reload.
      await reload();
      return (await get()).verifiers.get(kid) ?? null;
    },
    jwks: async () => {
      if (Date.now() - loadedAt > JWKS_MAX_AGE_MS) await reload();
      return { keys: (await get()).jwks };
    },
    ready: async () => {
      await get();
    },
    generation: () => generation,
    stop: () => clearInterval(timer),
  };
}

/** A new ES256 key pair as stored: kid is the RFC 7638 thumbprint of the public key. */
export async function newSigningKey(): Promise<{ kid: string; publicJwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  return { kid: await calculateJwkThumbprint(publicJwk), publicJwk, privateJwk };
}

/** Makes a new signing key current and retires the others (they verify until their tokens expire). */
export async function rotateSigningKey(sql: postgres.Sql, sealing: SealingKeys): Promise<string> {
  const key = await newSigningKey();
  // JSON goes as a text parameter cast to jsonb: postgres.js would serialize a parameter it
  // infers as jsonb with its json serializer, which drizzle replaces on clients it wraps.
  await sql.begin(async (tx) => {
    await tx`update auth.signing_keys set retired_at = now() where retired_at is null`;
    await tx`insert into auth.signing_keys (kid, alg, public_jwk, sealed_private_jwk)
             values (${key.kid}, 'ES256', ${JSON.stringify(key.publicJwk)}::text::jsonb,
                     ${sealPrivateJwk(sealing, key.kid, JSON.stringify(key.privateJwk))})`;
  });
  return key.kid;
}

/**
 * Start-up work on signing keys, for migrateAndProvision to run under its lock: seal what
 * is not sealed with the current key, then make a first key if there is none.
 */
export function provisionSigningKeys(sealing: SealingKeys): (sql: postgres.Sql) => Promise<void> {
  return async (sql) => {
    await sealSigningKeys(sql, sealing);
    await ensureSigningKey(sql, sealing);
  };
}

/** The first key, when there is none yet (start-up, under the migration lock). */
export async function ensureSigningKey(sql: postgres.Sql, sealing: SealingKeys): Promise<void> {
  const [row] = await sql`select 1 from auth.signing_keys where retired_at is null limit 1`;
  if (!row) await rotateSigningKey(sql, sealing);
}
