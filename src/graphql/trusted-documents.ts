import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { type DocumentNode, type GraphQLSchema, Kind, parse, validate } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import { AuthError } from '../auth/errors.js';
import { ConfigError } from '../config.js';

/**
 * The documents clients may send by id, parsed once at start-up, by the lower-case hex SHA-256
 * of their text. The id is the manifest's key and the text is the manifest's, never a request's.
 */
export type TrustedDocuments = ReadonlyMap<string, DocumentNode>;

// The client preset writes `sha256:<hex>` (the GraphQL-over-HTTP persisted-documents form);
// Apollo-style clients and older presets send the bare hex. Both name the same document.
const DOCUMENT_ID = /^(?:sha256:)?([0-9a-f]{64})$/;

/** The map key for a document id as a client or a manifest spells it; null when it is no SHA-256 id. */
export function documentKey(id: string): string | null {
  return DOCUMENT_ID.exec(id.toLowerCase())?.[1] ?? null;
}

/**
 * Reads the manifests codegen's client preset writes (`persisted-documents.json`: id → document
 * text) and checks them before the gateway takes a request: each key must be the SHA-256 of its
 * own text (so a manifest edited by hand cannot put other text behind a known id) and each
 * document must be valid against `schema`. Anything wrong stops start-up naming the file and id;
 * document text is never printed.
 */
export function loadTrustedDocuments(files: readonly string[], schema: GraphQLSchema): TrustedDocuments {
  const documents = new Map<string, DocumentNode>();
  for (const file of files) {
    const bad = (why: string) => new ConfigError(`invalid TRUSTED_DOCUMENTS: ${file}: ${why}`);
    let manifest: unknown;
    try {
      manifest = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw bad(code ? `cannot read it (${code})` : 'not valid JSON');
    }
    if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) {
      throw bad('not a JSON object of document id → document text (persisted-documents.json)');
    }
    for (const [id, text] of Object.entries(manifest)) {
      const key = documentKey(id);
      if (key === null) {
        throw bad(
          `"${id.slice(0, 80)}" is not a SHA-256 document id; emit the manifest with the client preset's default hashAlgorithm (sha256)`,
        );
      }
      if (typeof text !== 'string') throw bad(`the document of ${id} is not a string`);
      if (createHash('sha256').update(text).digest('hex') !== key) {
        throw bad(`${id} is not the SHA-256 of its document; regenerate the manifest instead of editing it`);
      }
      let document: DocumentNode;
      try {
        document = parse(text);
      } catch {
        throw bad(`the document of ${id} does not parse`);
      }
      const errors = validate(schema, document);
      if (errors.length > 0) {
        throw bad(
          `the document of ${id} (${operationNames(document)}) does not match the schema: ${errors[0]!.message} ` +
            '(regenerate the client against this schema)',
        );
      }
      documents.set(key, document);
    }
  }
  if (documents.size === 0) throw new ConfigError('invalid TRUSTED_DOCUMENTS: the manifests hold no document');
  return documents;
}

function operationNames(document: DocumentNode): string {
  const names = document.definitions.flatMap((d) =>
    d.kind === Kind.OPERATION_DEFINITION ? [d.name?.value ?? 'anonymous'] : [],
  );
  return names.join(', ') || 'no operation';
}

/**
 * The id a request names its document by: `extensions.persistedQuery.sha256Hash` (Apollo's
 * protocol, what the client preset's guides send) or `documentId` (GraphQL over HTTP), in the
 * body or, for GET, the URL. Returned as sent; a malformed id is simply not found.
 */
function requestedId(params: GraphQLParams & { documentId?: unknown }, request: Request): string | null {
  const id = bodyDocumentId(params);
  if (id !== null) return id;
  if (request.method === 'GET') return new URL(request.url).searchParams.get('documentId');
  return null;
}

/** The document id a request's parameters (a POST body) name, as useTrustedDocuments reads it. */
export function bodyDocumentId(params: { extensions?: unknown; documentId?: unknown }): string | null {
  const extensions = params.extensions as { persistedQuery?: unknown } | null | undefined;
  const persisted = extensions?.persistedQuery as { version?: unknown; sha256Hash?: unknown } | null | undefined;
  if (persisted !== null && typeof persisted === 'object' && persisted.version === 1) {
    if (typeof persisted.sha256Hash === 'string') return persisted.sha256Hash;
  }
  if (typeof params.documentId === 'string') return params.documentId;
  return null;
}

const HOW_TO_SEND =
  'the id codegen wrote into persisted-documents.json, as extensions.persistedQuery.sha256Hash or documentId';

/**
 * Runs documents by id from `documents`; with `only`, no other document runs. Errors carry
 * contract codes and say what to do.
 *
 * Speed: a known document is never parsed per request (the plugin hands yoga the DocumentNode
 * parsed at start-up), and is validated once: it is the same object on every request, and yoga's
 * validation cache (useParserAndValidationCache, on by default) keeps results per schema, rule
 * set and document object. Validation is deliberately not skipped (`skipDocumentValidation`):
 * the document limits and the introspection switch are validation rules, and trusted documents
 * stay under them like any other (test/graphql/trusted-documents.test.ts counts the runs).
 */
export function useTrustedDocuments(documents: TrustedDocuments, opts: { only: boolean }): Plugin {
  const notFound = opts.only
    ? 'Unknown document id: this gateway runs only the documents of its TRUSTED_DOCUMENTS manifest. Regenerate the client and deploy its persisted-documents.json with the gateway.'
    : 'Unknown document id: it is not in the TRUSTED_DOCUMENTS manifest. Deploy the client’s persisted-documents.json with the gateway, or send the query text.';
  return usePersistedOperations({
    allowArbitraryOperations: !opts.only,
    extractPersistedOperationId: requestedId,
    getPersistedOperation: (id) => {
      const key = documentKey(id);
      return key === null ? null : (documents.get(key) ?? null);
    },
    customErrors: {
      notFound: () => new AuthError('BAD_USER_INPUT', notFound, { reason: 'PERSISTED_DOCUMENT_NOT_FOUND' }),
      // A request with a query in only-mode, whatever id it names beside it: the text is refused
      // before anything is looked up, so no text can ride along with a known id.
      persistedQueryOnly: () =>
        new AuthError(
          'FORBIDDEN',
          `This gateway runs only trusted documents (TRUSTED_DOCUMENTS_ONLY): send ${HOW_TO_SEND}, without the query text.`,
          { reason: 'PERSISTED_DOCUMENT_REQUIRED' },
        ),
      keyNotFound: () =>
        opts.only
          ? new AuthError('BAD_USER_INPUT', `Send ${HOW_TO_SEND}.`, { reason: 'PERSISTED_DOCUMENT_REQUIRED' })
          : new AuthError('BAD_USER_INPUT', `Send a query, or ${HOW_TO_SEND}.`),
    },
  });
}
