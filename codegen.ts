import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the client operations in schema/operations/, generated from the
 * committed schema/schema.graphql (print it first: `npm run build:schema`). Tests import
 * them from test/generated/, so a query that no longer matches the schema fails to
 * type-check. `npm test` fails when the generated files are stale (`--check`).
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['schema/operations/*.graphql'],
  ignoreNoDocuments: false,
  emitLegacyCommonJSImports: false,
  generates: {
    'test/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        importExtension: '.js',
        scalars: {
          DateTime: 'string',
          USD: 'string',
          JSON: 'unknown',
          File: 'File',
          HyperparameterInt: "number | 'auto'",
          HyperparameterFloat: "number | 'auto'",
          HyperparameterBoolean: "boolean | 'auto'",
          HyperparameterString: 'string',
          HyperparameterStringList: "string[] | 'auto'",
        },
      },
    },
  },
};

export default config;
