import { builder, type Context } from 'authgate/builder';
import { sql } from 'drizzle-orm';

// A field only the tests add (see ./authgate.config.ts): what an app's resolver can reach.
//
// - clients: every Postgres client reachable from ctx by walking its properties (objects,
//   functions, Map values; each value once), as the role it connects as. A postgres.js
//   client is what has `unsafe()` and `options.user`; drizzle's client under ctx.db is one.
//   The test compares these roles with the auth pool's.
// - setRoleAuth: the SQLSTATE of `set local role authgate_auth` through ctx.db, in a
//   savepoint so the request goes on: the request's connection cannot become the auth role.
// - currentUser: the role ctx.db's queries run as.

type Probe = { clients: string[]; setRoleAuth: string; currentUser: string };

builder.queryField('ctxProbe', (t) =>
  t.field({
    type: 'JSON',
    resolve: async (_root, _args, ctx): Promise<Probe> => {
      const clients = postgresClients(ctx);
      let setRoleAuth = 'allowed';
      try {
        await ctx.db.transaction((tx) => tx.execute(sql`set local role authgate_auth`));
      } catch (err) {
        setRoleAuth = sqlState(err) ?? String(err);
      }
      const [row] = await ctx.db.execute<{ current_user: string }>(sql`select current_user`);
      return { clients, setRoleAuth, currentUser: row?.current_user ?? '' };
    },
  }),
);

function postgresClients(ctx: Context): string[] {
  const found = new Set<string>();
  const seen = new Set<unknown>();
  const read = (o: object, key: string | symbol): unknown => {
    try {
      return (o as Record<string | symbol, unknown>)[key];
    } catch {
      return undefined;
    }
  };
  const visit = (value: unknown, depth: number): void => {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return;
    if (seen.has(value) || depth > 10) return;
    seen.add(value);
    const options = read(value, 'options') as { user?: unknown } | undefined;
    if (typeof read(value, 'unsafe') === 'function' && typeof options?.user === 'string') {
      found.add(options.user);
      return;
    }
    if (value instanceof Map) for (const v of value.values()) visit(v, depth + 1);
    for (const key of Reflect.ownKeys(value)) visit(read(value, key), depth + 1);
  };
  visit(ctx, 0);
  return [...found].sort();
}

function sqlState(err: unknown): string | undefined {
  for (let e = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}
