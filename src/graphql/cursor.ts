import { badInput } from '../auth/errors.js';
import type { Keyset } from '../db/profiles.js';
import { isUuid } from '../shared/ids.js';

const PG_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?$/;

/** Opaque keyset cursor: the row's exact created_at text and id. */
export function encodeCursor(row: Keyset): string {
  return Buffer.from(JSON.stringify([row.createdAt, row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): Keyset {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && isUuid(parsed[1])) {
      const createdAt = parsed[0];
      if (isPgTimestamp(createdAt)) return { createdAt, id: parsed[1] };
    }
  } catch {}
  throw badInput('The cursor is not valid.', 'after');
}

/**
 * Exactly the shape Postgres gave us (created_at::text in UTC), nothing JS would also parse, and
 * every field in range: the text is cast in SQL, and a cast that fails there (month 13, 29
 * February of a common year, year 0, an offset past 15 hours) aborts the request's whole
 * transaction, failing its other fields too, where a BAD_USER_INPUT here fails only this one.
 */
function isPgTimestamp(text: string): boolean {
  const m = PG_TIMESTAMP.exec(text);
  if (!m) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHour = 0, offsetMinute = 0] = m
    .slice(1)
    .map((f) => Number(f ?? 0));
  return (
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysIn(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHour <= 15 &&
    offsetMinute <= 59
  );
}

/** Days of a month in the proleptic Gregorian calendar, as Postgres counts them. */
function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** `first` of a connection: 1..100, BAD_USER_INPUT outside. */
export function firstArg(first: number | null | undefined): number {
  const n = first ?? 20;
  if (n < 1 || n > 100) throw badInput('first must be between 1 and 100.', 'first');
  return n;
}
