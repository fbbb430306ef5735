import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type DocumentNode,
  type ExecutionResult,
  GraphQLError,
  getOperationAST,
  Kind,
  OperationTypeNode,
} from 'graphql';
import { type Plugin, processRegularResult, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from '../log.js';
import { withContractCodes } from './plugins.js';
import { bodyDocumentId, documentKey, type TrustedDocuments } from './trusted-documents.js';

/**
 * Known documents served beside graphql-yoga's HTTP pipeline.
 *
 * Why: yoga turns each Node request into a fetch Request and each answer into a fetch Response,
 * and runs a dozen request-level hooks around them; on a small query that costs more CPU than
 * the whole rest of the request (token, transaction, SQL, execution). A document the gateway has
 * already seen pass yoga's full validation (every rule, the document limits and the
 * introspection switch included), or a trusted document yoga has validated once, needs none of
 * that again. For it, the gateway runs yoga's own envelop (the same context building, execution
 * hooks, request transaction, error masking and logging) on the node:http request directly.
 *
 * Everything else goes to yoga, untouched: the first request of each text, GET, batches,
 * bodies that are not a JSON object of the standard parameters, Accept headers asking for
 * anything but a single JSON answer, and (only-mode) any text. So the fast path never decides
 * an error of its own; yoga answers every request it does not fully recognise.
 */
export type KnownDocuments = {
  /** The envelop plugin that remembers documents which passed validation. */
  plugin: Plugin;
  /**
   * Serves a POST whose body is `body` if it names a known document; false leaves the request
   * (body unread by anyone else) to yoga.
   */
  serve: (req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean;
};

type Params = {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: unknown;
  documentId?: unknown;
};

type Options = {
  yoga: () => YogaServerInstance<object, object>;
  /** The manifest's documents by id (TRUSTED_DOCUMENTS), null without one. */
  trusted: TrustedDocuments | null;
  /** TRUSTED_DOCUMENTS_ONLY: no text is ever served, by either path. */
  only: boolean;
  /** yoga's `maskedErrors.maskError`, for an execution that throws instead of answering. */
  maskError: (error: unknown, message: string) => Error;
  log: Logger;
  /** Counts requests served here (a metric), so operators see how much traffic skips yoga. */
  served: () => void;
};

/** Texts remembered at most; past it the oldest is forgotten (yoga's own parse cache holds 1000 too). */
const MAX_TEXTS = 1000;

export function knownDocuments(opts: Options): KnownDocuments {
  const byText = new Map<string, DocumentNode>();
  const trustedDocs = new Set(opts.trusted?.values() ?? []);
  // Trusted documents are parsed at start-up but validated by yoga on first use, with the limits.
  const validatedTrusted = new WeakSet<DocumentNode>();
  const allowed = opts.trusted ? PARAMS_WITH_ID : PARAMS;

  const remember = (text: unknown, document: DocumentNode) => {
    if (!servable(document)) return;
    if (trustedDocs.has(document)) {
      validatedTrusted.add(document);
      return;
    }
    if (opts.only || typeof text !== 'string' || byText.has(text)) return;
    if (byText.size >= MAX_TEXTS) byText.delete(byText.keys().next().value as string);
    byText.set(text, document);
  };

  const plugin: Plugin = {
    onValidate({ params, context }) {
      const document = params.documentAST;
      return ({ valid }) => {
        if (valid) remember((context as { params?: Params }).params?.query, document);
      };
    },
  };

  const lookup = (params: Params): DocumentNode | null => {
    // useTrustedDocuments reads an id only when no text is sent; only-mode refuses any text.
    if (params.query !== undefined) {
      return opts.only || typeof params.query !== 'string' ? null : (byText.get(params.query) ?? null);
    }
    if (!opts.trusted) return null;
    const id = bodyDocumentId(params);
    const key = id === null ? null : documentKey(id);
    const document = key === null ? undefined : opts.trusted.get(key);
    return document && validatedTrusted.has(document) ? document : null;
  };

  const serve = (req: IncomingMessage, res: ServerResponse, body: Buffer): boolean => {
    if (!req.headers['content-type']?.startsWith('application/json')) return false;
    const accepted = acceptedMediaType(req.headers.accept);
    if (accepted === null) return false;
    let params: unknown;
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      return false;
    }
    if (!standardParams(params, allowed)) return false;
    const document = lookup(params);
    // Yoga resolves the operation on every request, before validation (a coded 400 when the
    // name matches none): a document known under one operation name may not fit another.
    if (document === null || !getOperationAST(document, params.operationName as string | null | undefined)) {
      return false;
    }
    opts.served();
    void execute(opts, req, res, document, params, accepted);
    return true;
  };

  return { plugin, serve };
}

async function execute(
  opts: Options,
  req: IncomingMessage,
  res: ServerResponse,
  document: DocumentNode,
  params: Params,
  accepted: string,
): Promise<void> {
  const yoga = opts.yoga();
  // What yoga's context starts from: the server context (req, res), the request and the params.
  // The request is read for its headers only (src/context.ts).
  const context = { req, res, request: { method: 'POST', headers: new NodeHeaders(req) }, params };
  const enveloped = yoga.getEnveloped(context);
  let result: ExecutionResult;
  try {
    const contextValue = await enveloped.contextFactory();
    result = (await enveloped.execute({
      schema: enveloped.schema,
      document,
      contextValue,
      variableValues: params.variables as Record<string, unknown> | null | undefined,
      operationName: params.operationName as string | null | undefined,
    })) as ExecutionResult;
  } catch (err) {
    // As yoga's handleParams: an execution that throws is masked and answered as errors.
    const masked = opts.maskError(err, 'Unexpected error.');
    if (masked !== err) opts.log.error({ err: err instanceof Error ? err.message : String(err) }, 'request failed');
    result = { errors: [masked instanceof GraphQLError ? masked : new GraphQLError(masked.message)] };
  }
  result = withContractCodes(result);
  if (res.destroyed || res.writableEnded) return;
  if (!result.errors?.length && result.extensions === undefined) {
    const text = JSON.stringify(result);
    res.writeHead(200, { 'content-type': `${accepted}; charset=utf-8`, 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  // Errors decide the status by yoga's rules (GraphQL over HTTP): its own result processor says.
  const response = processRegularResult(result, yoga.fetchAPI, accepted);
  const text = await response.text();
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(response.status, { ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A document the fast path may run: queries and mutations only (subscriptions stream). */
function servable(document: DocumentNode): boolean {
  return document.definitions.every(
    (d) => d.kind !== Kind.OPERATION_DEFINITION || d.operation !== OperationTypeNode.SUBSCRIPTION,
  );
}

const PARAMS = new Set(['query', 'variables', 'operationName', 'extensions']);
const PARAMS_WITH_ID = new Set([...PARAMS, 'documentId']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A body yoga would accept as one request's parameters without complaint: an object (not a
 * batch) of the known parameters, each of its type. Anything else is yoga's to refuse.
 */
function standardParams(params: unknown, allowed: ReadonlySet<string>): params is Params {
  if (!isObject(params)) return false;
  for (const key of Object.keys(params)) if (!allowed.has(key)) return false;
  const { query, variables, operationName, extensions } = params;
  return (
    (query === undefined || typeof query === 'string') &&
    (variables === undefined || variables === null || isObject(variables)) &&
    (operationName === undefined || operationName === null || typeof operationName === 'string') &&
    (extensions === undefined || extensions === null || isObject(extensions))
  );
}

const JSON_ANSWERS = ['application/graphql-response+json', 'application/json'] as const;

/**
 * The media type yoga answers a single result with for this Accept header, or null where yoga
 * would choose something else (event streams, multipart, 406). Yoga reads the listed types
 * (utf-8 only); the first listed that a JSON answer matches wins, whatever stands before it,
 * and `application/json` over `application/graphql-response+json` when both match (`*\/*`).
 */
export function acceptedMediaType(accept: string | undefined): string | null {
  const types = (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',');
  for (const entry of types) {
    const [type = '', ...params] = entry.split(';');
    const charset = params.find((p) => p.includes('charset=')) ?? 'charset=utf-8';
    if (charset !== 'charset=utf-8') continue;
    let chosen: string | null = null;
    for (const answer of JSON_ANSWERS) if (matches(type, answer)) chosen = answer;
    if (chosen !== null) return chosen;
  }
  // Only event streams, multipart or nothing yoga serves: yoga answers.
  return null;
}

function matches(asked: string, offered: string): boolean {
  const [askedType, askedSub] = asked.split('/');
  const [type, sub] = offered.split('/');
  return (askedType === '*' || askedType === type) && (askedSub === '*' || askedSub === sub);
}

/** The request's headers as a fetch Headers reads them (lower-case names, joined values), without copying. */
class NodeHeaders {
  constructor(private readonly req: IncomingMessage) {}
  get(name: string): string | null {
    const value = this.req.headers[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }
  has(name: string): boolean {
    return this.req.headers[name.toLowerCase()] !== undefined;
  }
}
