import type { ArgBuilder, ArgumentRef, ObjectRef } from '@pothos/core';
import type { Keyset, Page } from '../db/profiles.js';
import { builder } from './builder.js';
import { decodeCursor, encodeCursor, firstArg } from './cursor.js';

type Types = typeof builder.$inferSchemaTypes;

type PageInfoShape = {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
};
type Edge<Node> = { cursor: string; node: Node };
export type Connection<Node> = { edges: Edge<Node>[]; pageInfo: PageInfoShape };

// Made with the first connection, so the SDL lists it after that connection's node type.
let PageInfo: ObjectRef<Types, PageInfoShape> | undefined;

/** `<name>Connection` and `<name>Edge` over `node`, the forward-only keyset kind. */
export function connectionType<Node>(name: string, node: ObjectRef<Types, Node>): ObjectRef<Types, Connection<Node>> {
  PageInfo ??= builder.objectRef<PageInfoShape>('PageInfo').implement({
    fields: (t) => ({
      hasNextPage: t.exposeBoolean('hasNextPage'),
      hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
      startCursor: t.exposeString('startCursor', { nullable: true }),
      endCursor: t.exposeString('endCursor', { nullable: true }),
    }),
  });
  const pageInfo = PageInfo;
  const EdgeType = builder.objectRef<Edge<Node>>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      node: t.expose('node', { type: node }),
    }),
  });
  return builder.objectRef<Connection<Node>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({ type: [EdgeType], resolve: (c) => c.edges }),
      pageInfo: t.field({ type: pageInfo, resolve: (c) => c.pageInfo }),
    }),
  });
}

/** The arguments of a page: `first` (1..100, default 20) and `after`, an edge's cursor. */
export function pageArgs(arg: ArgBuilder<Types>): {
  first: ArgumentRef<Types, number | null | undefined>;
  after: ArgumentRef<Types, string | null | undefined>;
} {
  return { first: arg.int({ defaultValue: 20 }), after: arg.string() };
}

/**
 * One page, newest first: checks `first`, decodes `after`, has `load` fetch the rows after it,
 * and makes each row an edge whose cursor is the keyset `edge` gives it.
 */
export async function keysetPage<Row, Node>(
  args: { first?: number | null; after?: string | null },
  load: (first: number, after: Keyset | null) => Promise<Page<Row>>,
  edge: (row: Row) => { key: Keyset; node: Node },
): Promise<Connection<Node>> {
  const first = firstArg(args.first);
  const after = args.after ? decodeCursor(args.after) : null;
  const { rows, hasNextPage } = await load(first, after);
  const edges = rows.map((row) => {
    const { key, node } = edge(row);
    return new KeysetEdge(key, node);
  });
  return {
    edges,
    pageInfo: {
      hasNextPage,
      // Forward paging only: there are rows before `after` by construction.
      hasPreviousPage: after !== null,
      get startCursor() {
        return edges[0]?.cursor ?? null;
      },
      get endCursor() {
        return edges.at(-1)?.cursor ?? null;
      },
    },
  };
}

/** An edge whose cursor is encoded only if the document asks for it (most pages ask for nodes only). */
class KeysetEdge<Node> implements Edge<Node> {
  readonly #key: Keyset;
  readonly node: Node;
  constructor(key: Keyset, node: Node) {
    this.#key = key;
    this.node = node;
  }
  get cursor(): string {
    return encodeCursor(this.#key);
  }
}
