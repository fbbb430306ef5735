import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { JWK } from 'jose';
import type postgres from 'postgres';
import type { Config } from '../config.js';
import { deriveKey, type SecretBox, secretBox } from './crypto.js';

// The private signing keys at rest: the sealing keys (SECRETS_KEY, or a key file made on
// first use), sealing and opening a row's private key, and re-sealing at start-up.

/**
 * What seals the private keys in auth.signing_keys: a key kept outside the database, so a copy
 * of the database (a backup, a replica, a role that can read auth.*) holds no usable private
 * key. `previous` only opens, while the key is being rotated; `source` says where `current`
 * came from, for error messages (never the key itself).
 */
export type SealingKeys = { current: SecretBox; previous: SecretBox | null; source: string };

// JWKs come back as text and are parsed here: drizzle swaps the json parsers of clients it wraps.
// private_jwk is set only on rows an older version wrote; start-up seals them.
export type SigningKeyRow = {
  kid: string;
  public_jwk: string;
  private_jwk: string | null;
  sealed: string | null;
  retired: boolean;
};

/**
 * Start-up, under the migration lock: seals the plain-text private keys older versions wrote,
 * and re-seals with SECRETS_KEY the ones sealed with SECRETS_KEY_PREVIOUS. All rows or none;
 * a row neither key opens stops start-up with an error naming its kid.
 */
export async function sealSigningKeys(sql: postgres.Sql, sealing: SealingKeys): Promise<void> {
  await sql.begin(async (tx) => {
    const rows = await tx<SigningKeyRow[]>`
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
               set sealed_private_jwk = ${sealPrivateJwk(sealing, r.kid, plain)}, private_jwk = null
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
        '(docs/operations.md, "Keys at rest") and keep it out of database backups',
    );
  }
  return { current: box(file.key), previous, source: `the key in ${file.path}${file.created ? ' (created now)' : ''}` };
}

/** Binds a sealed private key to its row: copied into another row, it does not open. */
const aadOf = (kid: string) => `auth.signing_keys:${kid}`;

/** A private JWK (as JSON text) sealed with the current key, bound to its row's kid. */
export function sealPrivateJwk(sealing: SealingKeys, kid: string, privateJwk: string): string {
  return sealing.current.seal(privateJwk, aadOf(kid));
}

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
      '(beside the new SECRETS_KEY), or SECRETS_KEY back to that key; docs/operations.md ("Keys at rest") says what to do if it is lost',
  );
}

/** The private key of a row, opened; a plain one an older version wrote is read as it is. */
export function privateJwkOf(sealing: SealingKeys, row: SigningKeyRow): JWK {
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
