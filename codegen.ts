import type { CodegenConfig } from '@graphql-codegen/cli';

const clientConfig = {
  documentMode: 'string',
  useTypeImports: true,
  enumsAsTypes: true,
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
} as const;

/**
 * Typed documents generated from the committed schema/schema.graphql (print it first:
 * `npm run build:schema`): the test operations in schema/operations/ (→ test/generated/)
 * and the web console's in console/src/graphql/ (→ console/src/generated/). A query that no
 * longer matches the schema fails to type-check; `npm test` fails when the generated files
 * are stale (`--check`).
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  ignoreNoDocuments: false,
  emitLegacyCommonJSImports: false,
  generates: {
    'test/generated/': {
      documents: ['schema/operations/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { ...clientConfig, importExtension: '.js' },
    },
    // The console is bundled by vite (bundler resolution): no import extension.
    'console/src/generated/': {
      documents: ['console/src/graphql/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: clientConfig,
    },
  },
};

export default config;
