import { type DocumentNode, GraphQLError, getOperationAST, Kind, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AuthError, ERROR_CODES } from '../auth/errors.js';
import type { Context } from '../context.js';
import { SessionEndedError } from '../db/errors.js';

/**
 * Runs each execution inside the request's transaction and ends it once the result is
 * known. A bad token fails here, before any connection is taken; a token whose session
 * has ended fails on the transaction's first statement.
 */
export function useRequestTransaction(): Plugin<Context> {
  return {
    onExecute({ args, setExecuteFn, executeFn }) {
      const { mutation, name, logged } = operationOf(args.document, args.operationName);
      setExecuteFn(async (execArgs) => {
        const ctx = execArgs.contextValue as Context;
        const started = performance.now();
        let outcome = 'error';
        if (ctx.authError) {
          ctx.metrics.observeRequest(name, 'UNAUTHENTICATED', (performance.now() - started) / 1000);
          ctx.log.info({
            requestId: ctx.requestId,
            operation: logged,
            userId: null,
            outcome: 'UNAUTHENTICATED',
            reason: ctx.authFailure,
          });
          return { errors: [ctx.authError] };
        }
        let ok = false;
        let codes: string[] | undefined;
        try {
          if (mutation) {
            // A mutation may act outside the transaction (sign-out, account changes), so an
            // ended session is refused before anything runs; by a statement that takes a
            // connection only for itself, so none is held while the mutation hashes a
            // password or works on the auth path. Resolvers that need the transaction open it.
            if (ctx.viewer) await ctx.tx.check();
          } else {
            // Queries pipeline: BEGIN, the identity statement and the first reads go out
            // together; the answer is withheld until the identity statement succeeded.
            ctx.tx.open();
          }
          const result = await executeFn(execArgs);
          if (ctx.viewer && ctx.tx.isOpen()) await ctx.tx.ready();
          ok = true;
          if ('errors' in result && result.errors?.length) {
            outcome = 'errors';
            const errors = result.errors as readonly GraphQLError[];
            codes = [...new Set(errors.map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR')))];
          } else outcome = 'ok';
          return result;
        } catch (caught) {
          const err = caught instanceof SessionEndedError ? new AuthError('UNAUTHENTICATED') : caught;
          if (err instanceof AuthError) {
            outcome = err.code;
            return { errors: [err] };
          }
          throw err;
        } finally {
          await ctx.tx.finish(ok, mutation);
          const seconds = (performance.now() - started) / 1000;
          ctx.metrics.observeRequest(name, outcome, seconds);
          // Who did what and how it went; never arguments, tokens or results.
          ctx.log.info({
            requestId: ctx.requestId,
            operation: logged,
            type: mutation ? 'mutation' : 'query',
            userId: ctx.viewer?.id ?? (ctx.service ? 'service_role' : null),
            ms: Math.round(seconds * 1000 * 10) / 10,
            outcome,
            ...(codes ? { codes } : {}),
          });
        }
      });
    },
  };
}

type OperationInfo = { mutation: boolean; name: string | null; logged: string };

// Documents are parse-cached objects, so what a request's log line and metric need of its
// operation is worked out once per document and operation name, not per request.
const operations = new WeakMap<DocumentNode, Map<string | null, OperationInfo>>();

function operationOf(document: DocumentNode, operationName: string | null | undefined): OperationInfo {
  let byName = operations.get(document);
  if (byName === undefined) {
    byName = new Map();
    operations.set(document, byName);
  }
  const key = operationName ?? null;
  let info = byName.get(key);
  if (info === undefined) {
    const operation = getOperationAST(document, operationName);
    const name = operationName ?? operation?.name?.value ?? null;
    // An unnamed operation is logged by its first root field (`{ me { id } }` as `me`).
    info = {
      mutation: operation?.operation === 'mutation',
      name,
      logged: name ?? firstField(operation) ?? 'anonymous',
    };
    // A document names few operations; a stranger's names beyond them are not kept.
    if (byName.size < document.definitions.length + 1) byName.set(key, info);
  }
  return info;
}

function firstField(operation: OperationDefinitionNode | null | undefined): string | null {
  const first = operation?.selectionSet.selections[0];
  return first?.kind === Kind.FIELD ? first.name.value : null;
}

/** Codes of failures that are not the client's: masked errors and a database out of reach. */
const SERVER_CODES = new Set(['INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE']);

const CONTRACT_CODES = new Set<string>(ERROR_CODES);

/**
 * Every error a client can cause carries one of the contract's codes: yoga's parse,
 * validation and request errors become BAD_USER_INPUT (the original code stays in
 * `reason`); masked internal errors keep INTERNAL_SERVER_ERROR.
 */
export function useContractErrorCodes(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result)) setResult(result.map(withContractCodes) as typeof result);
      else if (result && typeof result === 'object' && !(Symbol.asyncIterator in result))
        setResult(withContractCodes(result) as typeof result);
    },
  };
}

/** A result with its errors brought to the contract's codes (see useContractErrorCodes). */
export function withContractCodes<T>(result: T): T {
  const errors = (result as { errors?: readonly GraphQLError[] } | null)?.errors;
  if (!errors?.length) return result;
  return { ...result, errors: errors.map((e) => (e instanceof GraphQLError ? contractError(e) : e)) };
}

function contractError(err: GraphQLError): GraphQLError {
  const code = err.extensions?.code;
  // yoga puts the JSON parser's message (with a piece of the body) in originalError even
  // outside development; nothing but our own fields reaches a client.
  const { originalError: _o, stack: _s, ...extensions } = err.extensions ?? {};
  if (typeof code === 'string' && (CONTRACT_CODES.has(code) || SERVER_CODES.has(code))) {
    if (_o === undefined && _s === undefined) return err;
    return new GraphQLError(err.message, {
      nodes: err.nodes,
      source: err.source,
      positions: err.positions,
      path: err.path,
      extensions,
    });
  }
  const status = (err.extensions?.http as { status?: number } | undefined)?.status;
  const mapped = status === 401 ? 'UNAUTHENTICATED' : status === 403 ? 'FORBIDDEN' : 'BAD_USER_INPUT';
  return new GraphQLError(err.message, {
    nodes: err.nodes,
    source: err.source,
    positions: err.positions,
    path: err.path,
    extensions: { ...extensions, code: mapped, ...(typeof code === 'string' ? { reason: code } : {}) },
  });
}
