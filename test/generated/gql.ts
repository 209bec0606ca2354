/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "query Account {\n  account {\n    id\n    name\n    balance\n    reserved\n    available\n    ledger(first: 20) {\n      edges {\n        node {\n          id\n          type\n          amount\n          hold\n          referenceId\n        }\n      }\n    }\n  }\n}\n\nmutation TopUpAccount($input: TopUpAccountInput!) {\n  topUpAccount(input: $input) {\n    account {\n      id\n      balance\n    }\n    errors {\n      code\n      message\n    }\n  }\n}": typeof types.AccountDocument,
    "query FineTunableModels {\n  fineTunableModels {\n    id\n    fineTunable\n    architecture\n    contextLength\n    pricePerMillionTrainingTokens\n  }\n}\n\nquery Models($first: Int, $after: String, $fineTunable: Boolean) {\n  models(first: $first, after: $after, fineTunable: $fineTunable) {\n    edges {\n      cursor\n      node {\n        id\n        fineTunable\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery ModelById($id: ID!) {\n  model(id: $id) {\n    id\n    fineTunable\n  }\n}\n\nquery NodeById($id: ID!) {\n  node(id: $id) {\n    id\n    __typename\n  }\n}": typeof types.FineTunableModelsDocument,
};
const documents: Documents = {
    "query Account {\n  account {\n    id\n    name\n    balance\n    reserved\n    available\n    ledger(first: 20) {\n      edges {\n        node {\n          id\n          type\n          amount\n          hold\n          referenceId\n        }\n      }\n    }\n  }\n}\n\nmutation TopUpAccount($input: TopUpAccountInput!) {\n  topUpAccount(input: $input) {\n    account {\n      id\n      balance\n    }\n    errors {\n      code\n      message\n    }\n  }\n}": types.AccountDocument,
    "query FineTunableModels {\n  fineTunableModels {\n    id\n    fineTunable\n    architecture\n    contextLength\n    pricePerMillionTrainingTokens\n  }\n}\n\nquery Models($first: Int, $after: String, $fineTunable: Boolean) {\n  models(first: $first, after: $after, fineTunable: $fineTunable) {\n    edges {\n      cursor\n      node {\n        id\n        fineTunable\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery ModelById($id: ID!) {\n  model(id: $id) {\n    id\n    fineTunable\n  }\n}\n\nquery NodeById($id: ID!) {\n  node(id: $id) {\n    id\n    __typename\n  }\n}": types.FineTunableModelsDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Account {\n  account {\n    id\n    name\n    balance\n    reserved\n    available\n    ledger(first: 20) {\n      edges {\n        node {\n          id\n          type\n          amount\n          hold\n          referenceId\n        }\n      }\n    }\n  }\n}\n\nmutation TopUpAccount($input: TopUpAccountInput!) {\n  topUpAccount(input: $input) {\n    account {\n      id\n      balance\n    }\n    errors {\n      code\n      message\n    }\n  }\n}"): typeof import('./graphql.js').AccountDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query FineTunableModels {\n  fineTunableModels {\n    id\n    fineTunable\n    architecture\n    contextLength\n    pricePerMillionTrainingTokens\n  }\n}\n\nquery Models($first: Int, $after: String, $fineTunable: Boolean) {\n  models(first: $first, after: $after, fineTunable: $fineTunable) {\n    edges {\n      cursor\n      node {\n        id\n        fineTunable\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery ModelById($id: ID!) {\n  model(id: $id) {\n    id\n    fineTunable\n  }\n}\n\nquery NodeById($id: ID!) {\n  node(id: $id) {\n    id\n    __typename\n  }\n}"): typeof import('./graphql.js').FineTunableModelsDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
