import type { CodegenConfig } from '@graphql-codegen/cli';

// Paths are relative to this folder: run `npm run codegen` here (or pass --config from elsewhere
// with this folder as the working directory).
const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/**/*.ts', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false, persistedDocuments: true },
      config: {
        // Each document as its text (a String carrying its types and, with persistedDocuments,
        // its id): what @authgate/client sends. The default DocumentNode objects carry no text,
        // and printing them back would need graphql in the bundle.
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        // Relative imports with .js, so the output also works under "moduleResolution": "NodeNext".
        emitLegacyCommonJSImports: false,
        scalars: { DateTime: 'string', JSON: 'unknown' },
        strictScalars: true,
        skipTypename: true,
      },
    },
  },
};

export default config;
