import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type postgres from 'postgres';
import type { Config } from '../config.js';
import { deriveKey, type SecretBox, secretBox } from './crypto.js';

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

/**
 * What seals the private keys in auth.signing_keys: a key kept outside the database, so a copy
 * of the database (a backup, a replica, a role that can read auth.*) holds no usable private
 * key. `previous` only opens, while the key is being rotated; `source` says where `current`
 * came from, for error messages (never the key itself).
 */
export type SealingKeys = { current: SecretBox; previous: SecretBox | null; source: string };

// JWKs come back as text and are parsed here: drizzle swaps the json parsers of clients it wraps.
// private_jwk is set only on rows an older version wrote; start-up seals them.
type Row = { kid: string; public_jwk: string; private_jwk: string | null; sealed: string | null; retired: boolean };

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
    const rows = await sql<Row[]>`
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
                     ${sealing.current.seal(JSON.stringify(key.privateJwk), aadOf(key.kid))})`;
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

/**
 * Start-up, under the migration lock: seals the plain-text private keys older versions wrote,
 * and re-seals with SECRETS_KEY the ones sealed with SECRETS_KEY_PREVIOUS. All rows or none;
 * a row neither key opens stops start-up with an error naming its kid.
 */
export async function sealSigningKeys(sql: postgres.Sql, sealing: SealingKeys): Promise<void> {
  await sql.begin(async (tx) => {
    const rows = await tx<Row[]>`
      select kid, public_jwk::text, private_jwk::text, sealed_private_jwk as sealed, retired_at is not null as retired
      from auth.signing_keys order by created_at for update`;
    for (const r of rows) {
      let plain: string;
      if (r.sealed !== null) {
        const opened = openSealed(sealing, r.kid, r.sealed);
        if (!opened.withPrevious && r.private_jwk === null) continue;
        plain = opened.plain;
      } else if (r.private_jwk !== null) {
        plain = r.private_jwk;
      } else {
        throw new Error(`signing key ${r.kid} has no private key`);
      }
      await tx`update auth.signing_keys
               set sealed_private_jwk = ${sealing.current.seal(plain, aadOf(r.kid))}, private_jwk = null
               where kid = ${r.kid}`;
    }
  });
}

/** A sealed private key, opened (what the tests and the key store read). */
export function openPrivateJwk(sealing: SealingKeys, kid: string, sealed: string): JWK {
  return JSON.parse(openSealed(sealing, kid, sealed).plain) as JWK;
}

/**
 * The sealing keys from the configuration: SECRETS_KEY (and SECRETS_KEY_PREVIOUS), else the
 * file DATA_DIR/secrets.key, created on first use so a fresh `npm start` needs no set-up.
 * In production the file is a fallback worth a warning, never a reason to refuse to start.
 */
export function loadSealingKeys(
  config: Pick<Config, 'secretsKey' | 'dataDir' | 'env'>,
  warn: (line: string) => void = () => {},
): SealingKeys {
  // One purpose label, so other uses of the same key later derive other AES keys.
  const box = (key: string) => secretBox(deriveKey(key, 'authgate signing keys at rest'), 'signing key');
  const previous = config.secretsKey.previous ? box(config.secretsKey.previous) : null;
  if (config.secretsKey.current) return { current: box(config.secretsKey.current), previous, source: 'SECRETS_KEY' };
  const file = keyFile(config.dataDir);
  if (config.env === 'production') {
    warn(
      `SECRETS_KEY is not set: private signing keys are sealed with the key in ${file.path}; set SECRETS_KEY ` +
        '(README "Keys at rest") and keep it out of database backups',
    );
  }
  return { current: box(file.key), previous, source: `the key in ${file.path}${file.created ? ' (created now)' : ''}` };
}

/** Binds a sealed private key to its row: copied into another row, it does not open. */
const aadOf = (kid: string) => `auth.signing_keys:${kid}`;

function openSealed(sealing: SealingKeys, kid: string, sealed: string): { plain: string; withPrevious: boolean } {
  for (const [box, withPrevious] of [
    [sealing.current, false],
    [sealing.previous, true],
  ] as const) {
    if (!box) continue;
    try {
      return { plain: box.open(sealed, aadOf(kid)).toString('utf8'), withPrevious };
    } catch {
      // a wrong key or a tampered row: try the next key, then say which row
    }
  }
  throw new Error(
    `signing key ${kid} in auth.signing_keys cannot be opened with ${sealing.source}` +
      `${sealing.previous ? ' nor with SECRETS_KEY_PREVIOUS' : ''}: set SECRETS_KEY_PREVIOUS to the key that sealed it ` +
      '(beside the new SECRETS_KEY), or SECRETS_KEY back to that key; README "Keys at rest" says what to do if it is lost',
  );
}

function privateJwkOf(sealing: SealingKeys, row: Row): JWK {
  if (row.sealed !== null) return openPrivateJwk(sealing, row.kid, row.sealed);
  // Written by an older version during a rolling upgrade; the next start-up seals it.
  if (row.private_jwk !== null) return JSON.parse(row.private_jwk) as JWK;
  throw new Error(`signing key ${row.kid} has no private key`);
}

/** The key file's contents, created (mode 0600) when missing; never logged. */
function keyFile(dataDir: string): { key: string; path: string; created: boolean } {
  const path = resolve(dataDir, 'secrets.key');
  let created = false;
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Written aside, then linked into place: link fails if the file exists, so instances
    // starting together on one DATA_DIR all end up with the same key, never a half-written one.
    const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
    writeFileSync(temp, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(temp, path);
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(temp);
    }
  }
  const key = readFileSync(path, 'utf8').trim();
  if (key.length < 32) throw new Error(`${path} must hold a key of at least 32 characters`);
  return { key, path, created };
}
