import {
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  GraphQLBoolean,
  GraphQLError,
  GraphQLID,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  parse,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { useCompiledQueries } from '../../src/graphql/compiled-queries.js';

// The plugin hands the request transaction a compiled execute function for a query seen
// before. What it must never change is the answer: data, errors, their paths and codes. The
// gateway's own suites (test/graphql/known-documents.test.ts) compare a first answer (graphql-js)
// with a repeat (compiled) byte for byte; here, which executions get the compiled function.

// Resolvers on the fields, as Pothos builds them (graphql-jit, unlike graphql-js, never calls a
// function found as a property of the parent).
const User = new GraphQLObjectType({
  name: 'User',
  fields: {
    id: { type: new GraphQLNonNull(GraphQLID) },
    email: { type: new GraphQLNonNull(GraphQLString) },
    secret: {
      type: GraphQLString,
      resolve: () => {
        throw new GraphQLError('not yours', { extensions: { code: 'FORBIDDEN' } });
      },
    },
  },
});
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: {
      me: { type: User, resolve: () => ({ id: 'u1', email: 'a@example.test' }) },
      users: {
        type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(User))),
        args: { first: { type: new GraphQLNonNull(GraphQLInt) } },
        resolve: (_: unknown, { first }: { first: number }) =>
          Array.from({ length: first }, (_, i) => ({ id: `u${i}`, email: `u${i}@example.test` })),
      },
    },
  }),
  mutation: new GraphQLObjectType({
    name: 'Mutation',
    fields: { touch: { type: GraphQLBoolean, resolve: () => true } },
  }),
});
const rootValue = {};

type Executed = { compiled: boolean; result: ExecutionResult };

/** Runs `source` as envelop would: the plugin's hook, then whichever execute function it leaves. */
function runner() {
  const plugin = useCompiledQueries();
  const documents = new Map<string, ReturnType<typeof parse>>();
  return async (
    source: string,
    variableValues: Record<string, unknown> = {},
    operationName?: string,
  ): Promise<Executed> => {
    // yoga's parse cache hands the same DocumentNode for the same text.
    const document = documents.get(source) ?? parse(source);
    documents.set(source, document);
    const args: ExecutionArgs = { schema, document, rootValue, contextValue: {}, variableValues, operationName };
    let executeFn = execute as (a: ExecutionArgs) => ExecutionResult | Promise<ExecutionResult>;
    let compiled = false;
    // The hook's payload, reduced to what the plugin reads.
    const onExecute = plugin.onExecute as unknown as (payload: {
      args: ExecutionArgs;
      executeFn: typeof executeFn;
      setExecuteFn: (fn: typeof executeFn) => void;
    }) => void;
    onExecute({
      args,
      executeFn,
      setExecuteFn: (fn: typeof executeFn) => {
        executeFn = fn;
        compiled = true;
      },
    });
    return { compiled, result: JSON.parse(JSON.stringify(await executeFn(args))) as ExecutionResult };
  };
}

describe('compiled queries', () => {
  it('compiles a query on its second execution, and answers exactly as graphql-js', async () => {
    const run = runner();
    const q = 'query Page($n: Int!) { users(first: $n) { id email secret } me { id } }';
    const first = await run(q, { n: 3 });
    const second = await run(q, { n: 3 });
    const third = await run(q, { n: 2 });
    expect([first.compiled, second.compiled, third.compiled]).toEqual([false, true, true]);
    expect(second.result).toEqual(first.result);
    expect(second.result.errors).toHaveLength(3);
    expect(second.result.errors?.[0]).toMatchObject({
      path: ['users', 0, 'secret'],
      extensions: { code: 'FORBIDDEN' },
    });
    expect((third.result.data as { users: unknown[] }).users).toHaveLength(2);
  });

  it('bad variables are refused as graphql-js refuses them', async () => {
    const run = runner();
    const q = 'query Page($n: Int!) { users(first: $n) { id } }';
    const plain = await run(q, { n: 'x' });
    const compiled = await run(q, { n: 'x' });
    expect(compiled.compiled).toBe(true);
    expect(compiled.result).toEqual(plain.result);
    expect(plain.result.data).toBeUndefined();
    expect(plain.result.errors?.[0]?.message).toMatch(/\$n/);
  });

  it('leaves mutations and each operation of a document apart', async () => {
    const run = runner();
    const m = 'mutation { touch }';
    expect((await run(m)).compiled).toBe(false);
    expect((await run(m)).compiled).toBe(false);
    expect((await run(m)).result).toEqual({ data: { touch: true } });
    const two = 'query A { me { id } } query B { me { email } }';
    expect((await run(two, {}, 'A')).compiled).toBe(false);
    expect((await run(two, {}, 'B')).compiled).toBe(false);
    const a = await run(two, {}, 'A');
    const b = await run(two, {}, 'B');
    expect([a.compiled, b.compiled]).toEqual([true, true]);
    expect(a.result).toEqual({ data: { me: { id: 'u1' } } });
    expect(b.result).toEqual({ data: { me: { email: 'a@example.test' } } });
  });
});
