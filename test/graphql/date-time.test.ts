import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isoDateTime } from '../../src/shared/timestamps.js';

// DateTime answers rearrange Postgres's own text instead of parsing it (src/shared/timestamps.ts).
// The authority is Postgres: for times across the calendar, the text a session gives must
// become the instant Postgres counts, to the millisecond, in UTC and in other time zones.
const sql = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
afterAll(() => sql.end({ timeout: 5 }));

const TIMES = `
  select t::text as text, floor(extract(epoch from t) * 1000)::text as ms
  from (values
    (timestamptz '2026-12-06 05:24:08.123456+00'), ('2026-12-06 05:24:08.9999+00'), ('2026-12-06 05:24:08+00'),
    ('2026-12-06 05:24:08.5+00'), ('2000-02-29 23:59:59.999999+00'), ('1969-12-31 23:59:59.9995+00'),
    ('1970-01-01 00:00:00+00'), ('1000-01-01 00:00:00.001+00'), ('0099-03-01 12:00:00+00'), ('9999-12-31 23:59:59.999+00')
  ) v(t)
  union all
  select t::text, floor(extract(epoch from t) * 1000)::text
  from generate_series(timestamptz '1900-01-01', '2100-01-01', interval '1234567 seconds 654321 microseconds') t`;

async function timesIn(zone: string): Promise<{ text: string; ms: string }[]> {
  return sql.begin(async (q) => {
    await q`select set_config('TimeZone', ${zone}, true)`;
    return q.unsafe<{ text: string; ms: string }[]>(TIMES);
  });
}

describe('DateTime from Postgres text', () => {
  it('gives the instant Postgres counts for every time of a UTC session', async () => {
    const rows = await timesIn('UTC');
    expect(rows.length).toBeGreaterThan(5000);
    for (const r of rows) expect([r.text, isoDateTime(r.text)]).toEqual([r.text, new Date(Number(r.ms)).toISOString()]);
  });

  it('gives the same instants from a session in another time zone', async () => {
    for (const zone of ['Asia/Kolkata', 'America/Los_Angeles']) {
      const rows = await timesIn(zone);
      expect(rows[0]?.text).not.toMatch(/\+00$/);
      for (const r of rows)
        expect([r.text, isoDateTime(r.text)]).toEqual([r.text, new Date(Number(r.ms)).toISOString()]);
    }
  });

  it('writes Dates and epoch milliseconds as before', () => {
    const d = new Date('2026-12-06T05:24:08.123Z');
    expect(isoDateTime(d)).toBe('2026-12-06T05:24:08.123Z');
    expect(isoDateTime(d.getTime())).toBe('2026-12-06T05:24:08.123Z');
    expect(() => isoDateTime('infinity')).toThrow(RangeError);
  });
});
