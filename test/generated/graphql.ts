/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type TopUpAccountInput = {
  accountId: string | number;
  /** A positive USD amount. */
  amount: string;
  description?: string | null | undefined;
};

export type AccountQueryVariables = Exact<{ [key: string]: never; }>;


export type AccountQuery = { account: { id: string, name: string, balance: string, reserved: string, available: string, ledger: { edges: Array<{ node: { id: string, type: string, amount: string, hold: string, referenceId: string | null } }> } } };

export type TopUpAccountMutationVariables = Exact<{
  input: TopUpAccountInput;
}>;


export type TopUpAccountMutation = { topUpAccount: { account: { id: string, balance: string } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type FineTunableModelsQueryVariables = Exact<{ [key: string]: never; }>;


export type FineTunableModelsQuery = { fineTunableModels: Array<{ id: string, fineTunable: boolean, architecture: string, contextLength: number, pricePerMillionTrainingTokens: string }> };

export type ModelsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  fineTunable?: boolean | null | undefined;
}>;


export type ModelsQuery = { models: { edges: Array<{ cursor: string, node: { id: string, fineTunable: boolean } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ModelByIdQueryVariables = Exact<{
  id: string | number;
}>;


export type ModelByIdQuery = { model: { id: string, fineTunable: boolean } | null };

export type NodeByIdQueryVariables = Exact<{
  id: string | number;
}>;


export type NodeByIdQuery = { node:
    | { __typename: 'Account', id: string }
    | { __typename: 'Model', id: string }
   | null };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}

export const AccountDocument = new TypedDocumentString(`
    query Account {
  account {
    id
    name
    balance
    reserved
    available
    ledger(first: 20) {
      edges {
        node {
          id
          type
          amount
          hold
          referenceId
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<AccountQuery, AccountQueryVariables>;
export const TopUpAccountDocument = new TypedDocumentString(`
    mutation TopUpAccount($input: TopUpAccountInput!) {
  topUpAccount(input: $input) {
    account {
      id
      balance
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<TopUpAccountMutation, TopUpAccountMutationVariables>;
export const FineTunableModelsDocument = new TypedDocumentString(`
    query FineTunableModels {
  fineTunableModels {
    id
    fineTunable
    architecture
    contextLength
    pricePerMillionTrainingTokens
  }
}
    `) as unknown as TypedDocumentString<FineTunableModelsQuery, FineTunableModelsQueryVariables>;
export const ModelsDocument = new TypedDocumentString(`
    query Models($first: Int, $after: String, $fineTunable: Boolean) {
  models(first: $first, after: $after, fineTunable: $fineTunable) {
    edges {
      cursor
      node {
        id
        fineTunable
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<ModelsQuery, ModelsQueryVariables>;
export const ModelByIdDocument = new TypedDocumentString(`
    query ModelById($id: ID!) {
  model(id: $id) {
    id
    fineTunable
  }
}
    `) as unknown as TypedDocumentString<ModelByIdQuery, ModelByIdQueryVariables>;
export const NodeByIdDocument = new TypedDocumentString(`
    query NodeById($id: ID!) {
  node(id: $id) {
    id
    __typename
  }
}
    `) as unknown as TypedDocumentString<NodeByIdQuery, NodeByIdQueryVariables>;