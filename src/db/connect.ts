import postgres from 'postgres';

type Options = Parameters<typeof postgres>[1];

/**
 * postgres.js on a Postgres URL as libpq reads it, a `host` query parameter included: that is
 * how psql, libpq and node-postgres name a Unix socket directory,
 * `postgresql://user:password@localhost/db?host=/path/to/dir` (the parameter wins over the
 * URL's host). postgres.js reads no such parameter (it would pass it on to Postgres as a
 * setting, which Postgres refuses), so it becomes postgres.js's own `host` option here, which
 * for a directory means the socket `<dir>/.s.PGSQL.<port>`.
 */
export function connectPostgres(url: string, options: Options = {}): postgres.Sql {
  const u = new URL(url);
  const host = u.searchParams.get('host');
  if (!host) return postgres(url, options);
  u.searchParams.delete('host');
  return postgres(u.toString(), { ...options, host });
}

/** Where a Postgres URL points, for messages: its socket directory, else its host and port. */
export function whereOf(url: string): string {
  const u = new URL(url);
  return u.searchParams.get('host') ?? u.host;
}
