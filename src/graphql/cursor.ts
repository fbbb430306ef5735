import { isUuid } from '../auth/access-token.js';
import { badInput } from '../auth/errors.js';

const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;

/** Opaque keyset cursor: the row's exact created_at text and id. */
export function encodeCursor(row: { createdAt: string; id: string }): string {
  return Buffer.from(JSON.stringify([row.createdAt, row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && isUuid(parsed[1])) {
      const createdAt = parsed[0];
      // Exactly the shape Postgres gave us (created_at::text in UTC), nothing JS would also parse.
      if (PG_TIMESTAMP.test(createdAt)) return { createdAt, id: parsed[1] };
    }
  } catch {}
  throw badInput('The cursor is not valid.', 'after');
}

/** `first` of a connection: 1..100, BAD_USER_INPUT outside. */
export function firstArg(first: number | null | undefined): number {
  const n = first ?? 20;
  if (n < 1 || n > 100) throw badInput('first must be between 1 and 100.', 'first');
  return n;
}
