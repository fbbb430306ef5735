import { AuthError, badInput } from './errors.js';

export const EMAIL_MAX = 254;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;
export const METADATA_MAX_BYTES = 16 * 1024;
export const URL_MAX = 2048;
export const TEXT_MAX = 1024;
export const USERNAME = /^[A-Za-z0-9_]{3,32}$/;

export const METADATA_MAX_DEPTH = 32;

// Postgres text and jsonb hold neither NUL nor half a surrogate pair; refusing them here
// keeps them coded errors instead of driver ones.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** True for text Postgres cannot store: a NUL or a lone surrogate (half a UTF-16 pair). */
const unstorable = (s: string): boolean => s.includes('\u0000') || LONE_SURROGATE.test(s);

/** True for text Postgres can store: no NUL, no lone surrogate. */
export const storable = (s: string): boolean => !unstorable(s);

/** Trimmed, lower-cased and checked; BAD_USER_INPUT otherwise. */
export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (
    email.length === 0 ||
    email.length > EMAIL_MAX ||
    unstorable(email) ||
    !/^[^\s@"<>()[\]\\,;:]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(
      email,
    )
  ) {
    throw badInput('The email address is not valid.', 'email');
  }
  return email;
}

/** Length 8..1024 and not the email itself; WEAK_PASSWORD otherwise. */
export function checkPassword(password: string, email: string): void {
  if (unstorable(password)) throw badInput('The password contains a NUL character.', 'password');
  const length = [...password].length;
  if (length < PASSWORD_MIN)
    throw new AuthError('WEAK_PASSWORD', `The password needs at least ${PASSWORD_MIN} characters.`);
  if (length > PASSWORD_MAX)
    throw new AuthError('WEAK_PASSWORD', `The password may have at most ${PASSWORD_MAX} characters.`);
  if (password.trim().toLowerCase() === email)
    throw new AuthError('WEAK_PASSWORD', 'The password must not be the email address.');
}

export function checkUsername(username: string): string {
  if (!USERNAME.test(username)) {
    throw badInput('A username has 3 to 32 letters, digits or underscores.', 'username');
  }
  return username;
}

/** http(s) only, at most 2048 characters. */
export function checkUrl(value: string, field: string): string {
  let ok = value.length <= URL_MAX && !unstorable(value);
  if (ok) {
    try {
      const u = new URL(value);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname.length > 0;
    } catch {
      ok = false;
    }
  }
  if (!ok) throw badInput(`${field} must be an http(s) URL of at most ${URL_MAX} characters.`, field);
  return value;
}

export function checkText(value: string, field: string): string {
  if (unstorable(value) || value.length > TEXT_MAX) {
    throw badInput(`${field} must be at most ${TEXT_MAX} characters without NUL.`, field);
  }
  return value;
}

/**
 * A JSON object of at most 16 KiB and 32 levels, whose keys and strings Postgres can store;
 * BAD_USER_INPUT otherwise. Walked without recursion, so depth cannot exhaust the stack.
 */
export function checkMetadata(value: unknown, field = 'data'): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badInput(`${field} must be a JSON object.`, field);
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node === 'string') {
      if (!storable(node)) throw badInput(`${field} must not contain NUL or unpaired surrogate characters.`, field);
    } else if (node !== null && typeof node === 'object') {
      if (depth > METADATA_MAX_DEPTH) throw badInput(`${field} may nest at most ${METADATA_MAX_DEPTH} levels.`, field);
      for (const [k, v] of Object.entries(node)) {
        if (!storable(k)) throw badInput(`${field} must not contain NUL or unpaired surrogate characters.`, field);
        stack.push([v, depth + 1]);
      }
    }
  }
  if (Buffer.byteLength(JSON.stringify(value), 'utf8') > METADATA_MAX_BYTES) {
    throw badInput(`${field} may be at most ${METADATA_MAX_BYTES} bytes of JSON.`, field);
  }
  return value as Record<string, unknown>;
}

export type ProfileSeed = {
  username: string | null;
  fullName: string | null;
  avatarUrl: string | null;
  website: string | null;
};

/** The profile fields that sign-up metadata seeds; wrong types are BAD_USER_INPUT. */
export function profileSeed(data: Record<string, unknown>): ProfileSeed {
  const str = (key: string): string | null => {
    const v = data[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw badInput(`data.${key} must be a string.`, `data.${key}`);
    return v;
  };
  const username = str('username');
  const fullName = str('full_name');
  const avatarUrl = str('avatar_url');
  const website = str('website');
  return {
    username: username === null ? null : checkUsername(username),
    fullName: fullName === null ? null : checkText(fullName, 'data.full_name'),
    avatarUrl: avatarUrl === null ? null : checkUrl(avatarUrl, 'data.avatar_url'),
    website: website === null ? null : checkUrl(website, 'data.website'),
  };
}
