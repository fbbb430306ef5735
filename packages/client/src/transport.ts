import { AuthgateError, type GraphQLErrorEntry } from './errors.js';
import type { Document } from './types.js';

/** What goes on the wire for one document: its text, its operation name, its persisted id. */
export type Source = { query: string | undefined; operationName: string | undefined; id: string | undefined };

type DocumentObject = {
  __meta__?: { hash?: unknown };
  loc?: { source?: { body?: string } };
  definitions?: ReadonlyArray<{ kind: string; name?: { value: string } }>;
};

const sources = new WeakMap<object, Source>();
const OPERATION_NAME = /\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/;

/**
 * Reads a document once: plain text, codegen's `TypedDocumentString` (a String with `__meta__`)
 * or a `DocumentNode`. A DocumentNode carries its text only in `loc`, which codegen's objects
 * lack: those are sent by id (persisted documents) or need `documentMode: 'string'`.
 */
export function sourceOf(document: Document<unknown, never>): Source {
  if (typeof document === 'string') return { query: document, operationName: nameIn(document), id: undefined };
  let source = sources.get(document);
  if (source) return source;
  const doc = document as DocumentObject;
  const hash = typeof doc.__meta__?.hash === 'string' ? doc.__meta__.hash : undefined;
  if (document instanceof String) {
    const text = document.toString();
    source = { query: text, operationName: nameIn(text), id: hash };
  } else {
    const operation = doc.definitions?.find((d) => d.kind === 'OperationDefinition');
    source = { query: doc.loc?.source?.body, operationName: operation?.name?.value, id: hash };
  }
  sources.set(document, source);
  return source;
}

const nameIn = (text: string): string | undefined => OPERATION_NAME.exec(text)?.[1];

/** The request body for `source`: its id alone when `persisted`, else its text. */
export function bodyOf(source: Source, variables: unknown, persisted: boolean): string {
  const name = source.operationName ?? 'This document';
  if (persisted) {
    if (source.id === undefined) {
      throw new AuthgateError(`${name} has no persisted id: generate it with persistedDocuments: true in codegen.`);
    }
    // The id alone, no text: a gateway that runs only trusted documents refuses any text.
    const extensions = { persistedQuery: { version: 1, sha256Hash: source.id } };
    return JSON.stringify({ extensions, operationName: source.operationName, variables: variables ?? {} });
  }
  if (source.query === undefined) {
    throw new AuthgateError(
      `${name} carries no text: use codegen's documentMode: 'string', or persisted documents (persistedDocuments: true here and in codegen).`,
    );
  }
  return JSON.stringify({ query: source.query, operationName: source.operationName, variables: variables ?? {} });
}

/** `sha256:<hex>` of a document's text: the id codegen and TRUSTED_DOCUMENTS use. */
export async function documentId(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return `sha256:${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export const JSON_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/graphql-response+json, application/json',
} as const;

/** The data of a GraphQL response, or an AuthgateError with its errors. */
export async function readResult<T>(response: Promise<Response>): Promise<T> {
  let res: Response;
  try {
    res = await response;
  } catch (cause) {
    throw new AuthgateError('The GraphQL endpoint could not be reached.', { cause });
  }
  let body: { data?: T | null; errors?: GraphQLErrorEntry[] };
  try {
    body = (await res.json()) as typeof body;
  } catch (cause) {
    throw new AuthgateError(`Not a GraphQL response (HTTP ${res.status}).`, { status: res.status, cause });
  }
  const first = body.errors?.[0];
  if (first) throw new AuthgateError(first.message, { errors: body.errors, status: res.status });
  if (body.data == null)
    throw new AuthgateError(`Empty GraphQL response (HTTP ${res.status}).`, { status: res.status });
  return body.data;
}

/**
 * Whether the gateway refused the bearer token: HTTP 401, or a GraphQL answer whose errors carry
 * UNAUTHENTICATED. Reads a copy, so the caller still gets the body.
 */
export async function refusedToken(res: Response): Promise<boolean> {
  if (res.status === 401) return true;
  if (!/json/i.test(res.headers.get('content-type') ?? '')) return false;
  try {
    const body = (await res.clone().json()) as { errors?: GraphQLErrorEntry[] };
    return body.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED') ?? false;
  } catch {
    return false;
  }
}
