/**
 * Postgres's text of a timestamptz (DateStyle ISO, Postgres's default):
 * `2026-12-06 05:24:08.123456+00`, the offset being the session's TimeZone at that time, down to
 * seconds for local mean time before 1900 (`+05:53:28`).
 */
const PG_UTC = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?\+00$/;
const PG_TEXT =
  /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;

/**
 * A time as ISO-8601 in UTC with milliseconds, what `Date#toISOString` writes.
 *
 * Why not `new Date(text)`: V8 reads Postgres's text with its legacy date parser, and on a page
 * of profiles (two times per row) that parser was 4 % of the gateway's CPU. It also reads
 * years before 100 as 19xx and throws on offsets with seconds. In UTC the text already holds
 * the ISO fields and is rearranged; another offset is subtracted field by field. Microseconds
 * are cut to milliseconds as a Date cuts them. Anything else (a Date, BC, infinity) goes
 * through Date.
 */
export function isoDateTime(value: Date | string | number): string {
  if (typeof value !== 'string') return new Date(value).toISOString();
  // UTC, the common case, is tested without capturing: on a page of rows, the match arrays
  // and their dozen strings were most of what a time's answer allocated.
  if (PG_UTC.test(value)) {
    // `2026-12-06 05:24:08` is 19 characters; then `.` and 1–6 digits, or nothing; then `+00`.
    const millis = value.length > 22 ? value.slice(20, Math.min(23, value.length - 3)).padEnd(3, '0') : '000';
    return `${value.slice(0, 10)}T${value.slice(11, 19)}.${millis}Z`;
  }
  const m = PG_TEXT.exec(value);
  if (!m) return new Date(value).toISOString();
  const [, year, month, day, hour, minute, second, fraction = '', sign, oh = '00', om = '00', os = '00'] = m;
  const d = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  d.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  d.setUTCHours(Number(hour), Number(minute), Number(second), Number(fraction.padEnd(3, '0').slice(0, 3)));
  const offset = (Number(oh) * 3600 + Number(om) * 60 + Number(os)) * 1000;
  return new Date(d.getTime() - (sign === '-' ? -offset : offset)).toISOString();
}
