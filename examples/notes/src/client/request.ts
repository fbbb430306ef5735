import type { TypedDocumentString } from './gql/graphql.js';

/** A GraphQL error as authgate sends it: `extensions.code` is what a client switches on. */
export type GraphQLErrorBody = { message: string; path?: (string | number)[]; extensions?: { code?: string } };

export class RequestError extends Error {
  constructor(readonly errors: GraphQLErrorBody[]) {
    super(errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; '));
  }
}

/**
 * Runs a generated document against the gateway: `variables` and the answer are typed by
 * the document (a wrong variable or a field the document does not select fails to compile).
 */
export async function request<Result, Variables>(
  url: string,
  document: TypedDocumentString<Result, Variables>,
  variables: Variables,
  accessToken?: string,
): Promise<Result> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: JSON.stringify({ query: document.toString(), variables }),
  });
  const body = (await res.json()) as { data?: Result | null; errors?: GraphQLErrorBody[] };
  if (body.errors?.length) throw new RequestError(body.errors);
  if (!body.data) throw new Error(`no data (HTTP ${res.status})`);
  return body.data;
}
