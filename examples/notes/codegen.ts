import type { CodegenConfig } from '@graphql-codegen/cli';

// The typed client: `npm run codegen` prints the schema (authgate's types and this app's)
// to schema.graphql, then types every graphql(`…`) document under src/client/ against it.
const config: CodegenConfig = {
  schema: './schema.graphql',
  documents: ['src/client/**/*.ts', '!src/client/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    'src/client/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        // Each document is a string with its result and variables types attached: send it
        // with fetch as it is, no GraphQL client library needed.
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        emitLegacyCommonJSImports: false,
        scalars: { DateTime: 'string', JSON: 'unknown' },
        strictScalars: true,
        skipTypename: true,
      },
    },
  },
};

export default config;
