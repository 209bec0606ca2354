import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset } from '../../src/dev/rest-client.js';
import { HYPERPARAMETER_ROWS } from '../../src/training/hyperparameter-table.js';

/**
 * Strict hyperparameter input on both transports: a value is of its field's kind, "auto" or
 * null — anything else is INVALID_HYPERPARAMETERS naming the field (REST: 400
 * problem+json; GraphQL: a typed error in the payload), and no job is created. Nothing
 * is coerced or silently replaced by a default.
 */
const BAD: Array<[field: string, value: unknown]> = [
  ['learningRate', '1e400'],
  ['learningRate', 'Infinity'],
  ['learningRate', '0.001'],
  ['epochs', '3'],
  ['epochs', true],
  ['epochs', 2.5],
  ['epochs', 0],
  ['batchSize', ''],
  ['packing', 'true'],
  ['lrScheduler', 3],
  ['lrScheduler', 'cosin'],
  ['loraTargetModules', 'q_proj'],
  ['loraTargetModules', []],
  ['warmupRatio', 1],
  ['epoch', 3], // a typo is not a hyperparameter
];

describe.each(engines())('strict hyperparameters (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let dataset: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    key = (await t.account('strict', 100_000_000n)).apiKey;
    await addTinyModel(t);
    dataset = (await uploadDataset(t.url, key, qaJsonl())).id;
  });
  afterAll(async () => t?.stop());

  const body = (hyperparameters: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ baseModel: 'tiny', trainingDataset: dataset, hyperparameters, ...extra });
  const jobCount = async () => Number((await t.app.services.training.list((await accountOf(key)).accountId, { first: 100 })).jobs.length);
  const accountOf = async (apiKey: string) => (await t.app.services.accounts.authenticate(`Bearer ${apiKey}`))!;

  async function graphql(query: string, variables?: Record<string, unknown>) {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  }
  const START = `mutation($input: StartFineTuneInput!) {
    startFineTune(input: $input) { job { id } errors { code message ... on InvalidInputError { field } } }
  }`;
  const ESTIMATE = 'query($input: StartFineTuneInput!) { estimateFineTuneCost(input: $input) { epochs } }';

  it.each(BAD)('REST refuses %s = %j with 400 INVALID_HYPERPARAMETERS naming the field, for start and estimate', async (field, value) => {
    const before = await jobCount();
    for (const route of ['/api/fine-tune/training/start', '/api/fine-tune/estimate']) {
      const response = await fetch(`${t.url}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body({ [field]: value }),
      });
      expect(response.status, route).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await response.json()) as { code: string; field: string; detail: string };
      expect(problem.code).toBe('INVALID_HYPERPARAMETERS');
      expect(problem.field).toBe(`hyperparameters.${field}`);
      expect(problem.detail).toContain(`hyperparameters.${field}`);
    }
    expect(await jobCount()).toBe(before);
  });

  it.each(BAD.filter(([field]) => field !== 'epoch'))(
    'GraphQL refuses %s = %j with a typed INVALID_HYPERPARAMETERS error naming the field',
    async (field, value) => {
      const before = await jobCount();
      const input = { baseModel: 'tiny', trainingDataset: dataset, hyperparameters: { [field]: value } };
      const started = await graphql(START, { input });
      expect(started.errors).toBeUndefined();
      expect(started.data.startFineTune.job).toBeNull();
      expect(started.data.startFineTune.errors).toEqual([
        expect.objectContaining({ code: 'INVALID_HYPERPARAMETERS', field: `hyperparameters.${field}` }),
      ]);
      const estimated = await graphql(ESTIMATE, { input });
      expect(estimated.errors?.[0]?.extensions?.code).toBe('INVALID_HYPERPARAMETERS');
      expect(estimated.errors?.[0]?.message).toContain(`hyperparameters.${field}`);
      expect(await jobCount()).toBe(before);
    },
  );

  it('GraphQL refuses the literal 1e400 (graphql-js reads it as Infinity) instead of training at the default, in start and estimate', async () => {
    const before = await jobCount();
    const result = await graphql(`mutation {
      startFineTune(input: { baseModel: "tiny", trainingDataset: "${dataset}", hyperparameters: { learningRate: 1e400 } }) {
        job { id } errors { code ... on InvalidInputError { field } }
      }
    }`);
    expect(result.data.startFineTune).toEqual({
      job: null,
      errors: [{ code: 'INVALID_HYPERPARAMETERS', field: 'hyperparameters.learningRate' }],
    });
    const estimate = await graphql(`{
      estimateFineTuneCost(input: { baseModel: "tiny", trainingDataset: "${dataset}", hyperparameters: { learningRate: 1e400 } }) { epochs }
    }`);
    expect(estimate.errors?.[0]?.extensions?.code).toBe('INVALID_HYPERPARAMETERS');
    expect(await jobCount()).toBe(before);
  });

  it('a hyperparameter the method does not use is refused, unless auto', async () => {
    const rest = await restJson<{ code: string; field: string }>(t.url, key, '/api/fine-tune/estimate', {
      method: 'POST',
      body: body({ loraRank: 4 }, { method: 'FULL' }),
    });
    expect(rest.status).toBe(400);
    expect(rest.body).toMatchObject({ code: 'INVALID_HYPERPARAMETERS', field: 'hyperparameters.loraRank' });
    const auto = await restJson<{ hyperparameters: Record<string, unknown> }>(t.url, key, '/api/fine-tune/estimate', {
      method: 'POST',
      body: body({ loraRank: 'auto' }, { method: 'FULL' }),
    });
    expect(auto.status).toBe(200);
    expect(auto.body.hyperparameters.loraRank).toBeNull();
  });

  it('null and "auto" both mean auto for every field, on both transports', async () => {
    const names = HYPERPARAMETER_ROWS.map(([name]) => name);
    const reference = await restJson<{ hyperparameters: Record<string, unknown> }>(t.url, key, '/api/fine-tune/estimate', {
      method: 'POST',
      body: body({}),
    });
    expect(reference.status).toBe(200);
    for (const auto of [null, 'auto']) {
      const all = Object.fromEntries(names.map((name) => [name, auto]));
      const rest = await restJson<{ hyperparameters: Record<string, unknown> }>(t.url, key, '/api/fine-tune/estimate', {
        method: 'POST',
        body: body(all),
      });
      expect(rest.status, JSON.stringify(rest.body)).toBe(200);
      expect(rest.body.hyperparameters).toEqual(reference.body.hyperparameters);
      const gql = await graphql(ESTIMATE, { input: { baseModel: 'tiny', trainingDataset: dataset, hyperparameters: all } });
      expect(gql.errors).toBeUndefined();
      expect(gql.data.estimateFineTuneCost.epochs).toBe(reference.body.hyperparameters.epochs);
    }
    // Enum-style and string literals in a query document read the same as variables.
    const literal = await graphql(`{
      estimateFineTuneCost(input: { baseModel: "tiny", trainingDataset: "${dataset}", hyperparameters: { epochs: "auto", lrScheduler: linear } }) { epochs }
    }`);
    expect(literal.errors).toBeUndefined();
    expect(literal.data.estimateFineTuneCost.epochs).toBe(reference.body.hyperparameters.epochs);
  });
});
