/**
 * The password hash formats the gateway verifies: its own argon2 (PHC strings) and bcrypt,
 * as Supabase and Auth0 write it. Anything else is never stored as a password: a string we
 * cannot verify exactly would either lock its user out or, worse, let a wrong password in.
 */
export type HashKind = 'argon2' | 'bcrypt';

export type HashCheck = { ok: true; kind: HashKind } | { ok: false; reason: 'unknown_format' | 'weak_parameters' };

// $2a$/$2b$/$2y$ differ only in how old implementations handled non-ASCII bytes; the
// algorithm is the same. 22 characters of salt and 31 of hash, bcrypt's own base64.
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;
// PHC form as the argon2 reference (m,t,p) and node-argon2 (m,p,t) write it; salt ≥ 8
// bytes, hash ≥ 16.
const ARGON2 =
  /^\$argon2(?:id|i|d)\$v=19\$([mpt]=\d{1,8},[mpt]=\d{1,8},[mpt]=\d{1,8})\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{22,}$/;

/** Below what Supabase and Auth0 write (10): cheap to crack, so not kept. */
export const BCRYPT_MIN_COST = 10;
/** argon2 with less memory than this (KiB) is far below any published recommendation. */
export const ARGON2_MIN_MEMORY_KIB = 4096;

/** Whether `hash` is a format we verify, with parameters strong enough to keep. */
export function checkHash(hash: string): HashCheck {
  const bcrypt = BCRYPT.exec(hash);
  if (bcrypt) {
    const cost = Number(bcrypt[1]);
    return cost >= BCRYPT_MIN_COST && cost <= 31
      ? { ok: true, kind: 'bcrypt' }
      : { ok: false, reason: 'weak_parameters' };
  }
  const argon = ARGON2.exec(hash);
  if (argon) {
    const params = new Map((argon[1] ?? '').split(',').map((kv) => [kv[0], Number(kv.slice(2))] as const));
    const [m, t, p] = [params.get('m') ?? 0, params.get('t') ?? 0, params.get('p') ?? 0];
    return params.size === 3 && m >= ARGON2_MIN_MEMORY_KIB && t >= 1 && p >= 1
      ? { ok: true, kind: 'argon2' }
      : { ok: false, reason: 'weak_parameters' };
  }
  return { ok: false, reason: 'unknown_format' };
}

/** The kind of a stored hash, or null for anything we do not verify (it then matches nothing). */
export function hashKind(hash: string): HashKind | null {
  if (hash.startsWith('$argon2')) return 'argon2';
  const c = checkHash(hash);
  return c.ok ? c.kind : null;
}
