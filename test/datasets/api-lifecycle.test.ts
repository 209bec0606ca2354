import { stat } from 'node:fs/promises';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { gql } from '../helpers/clients.js';
import { engines } from '../helpers/db.js';
import { FAST_HYPERPARAMETERS, addTinyModel } from '../helpers/training.js';
import { restJson } from '../../src/dev/rest-client.js';
import {
  DatasetDocument,
  DatasetNodeDocument,
  DatasetsDocument,
  DeleteDatasetDocument,
  UploadDatasetDetailDocument,
} from '../generated/graphql.js';
import type { UploadDatasetDetailMutation } from '../generated/graphql.js';
import { chatJsonl, datasetFiles, gqlUpload, postMultipart, postRaw, tempFiles, waitValidated } from '../helpers/datasets-api.js';
import type { DatasetJson } from '../helpers/datasets-api.js';

/** Small enough that an over-limit upload is quick, large enough for an upload cut off half way. */
const MAX_BYTES = 2 << 20;

/**
 * Datasets at the API: dedup, tenancy, deletion against queued jobs, and bad uploads (cut
 * off, too large, wrong type) that leave no row and no file behind and never stop the app.
 */
describe.each(engines())('datasets API: lifecycle and bad uploads (%s)', (engine) => {
  let t: TestApp;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    t = await startTestApp(engine, { config: { datasetMaxBytes: MAX_BYTES } });
    alice = (await t.account('alice')).apiKey;
    bob = (await t.account('bob')).apiKey;
    await addTinyModel(t);
  });
  afterAll(async () => t?.stop());

  const rowCount = async () =>
    Number(
      (
        await t.app.services.db
          .selectFrom('datasets')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );
  const storedPath = (sha: string) => `${t.config.dataDir}/datasets/sha256/${sha.slice(0, 2)}/${sha}.jsonl`;

  /** No dataset row was added, no stored file appeared, the upload temp folder is empty again, the app answers. */
  async function expectNothingLeft(rowsBefore: number, filesBefore: string[]) {
    const deadline = Date.now() + 10_000;
    while ((await tempFiles(t)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await tempFiles(t)).toEqual([]);
    expect(await datasetFiles(t)).toEqual(filesBefore);
    expect(await rowCount()).toBe(rowsBefore);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  }

  it('dedups identical bytes per account: same account → the same dataset; another account → its own', async () => {
    const content = chatJsonl(12, ' dedup');
    const first = await postRaw(t, alice, content);
    const again = await postMultipart(t, alice, content, 'renamed.jsonl');
    const viaGql = await gqlUpload<UploadDatasetDetailMutation>(t, alice, UploadDatasetDetailDocument.toString(), content);
    expect(again.body.id).toBe(first.body.id);
    expect(viaGql.body.data!.uploadDataset.dataset!.id).toBe(first.body.id);
    const bobs = await postRaw(t, bob, content);
    expect(bobs.status).toBe(201);
    expect(bobs.body.id).not.toBe(first.body.id);
    expect(bobs.body.sha256).toBe(first.body.sha256);
    expect((await waitValidated(t, bob, bobs.body.id)).status).toBe('READY');
    expect((await datasetFiles(t)).filter((f) => f.includes(first.body.sha256))).toHaveLength(1);
  });

  it("another account's dataset answers exactly like a missing one: REST GET/DELETE 404, GraphQL dataset/node null, deleteDataset NOT_FOUND, absent from lists", async () => {
    const mine = await postRaw(t, alice, chatJsonl(12, ' private'));
    await waitValidated(t, alice, mine.body.id);
    const missingId = 'ds_00000000000000000000000000';
    for (const id of [mine.body.id, missingId]) {
      const get = await restJson<{ code: string }>(t.url, bob, `/api/datasets/${id}`);
      expect([get.status, get.body.code]).toEqual([404, 'NOT_FOUND']);
      const del = await restJson<{ code: string }>(t.url, bob, `/api/datasets/${id}`, { method: 'DELETE' });
      expect([del.status, del.body.code]).toEqual([404, 'NOT_FOUND']);
      expect((await gql(t.url, bob, DatasetDocument, { id })).data!.dataset).toBeNull();
      expect((await gql(t.url, bob, DatasetNodeDocument, { id })).data!.node).toBeNull();
      expect((await gql(t.url, bob, DeleteDatasetDocument, { id })).data!.deleteDataset).toMatchObject({
        deletedId: null,
        errors: [{ code: 'NOT_FOUND' }],
      });
    }
    expect((await gql(t.url, alice, DatasetNodeDocument, { id: mine.body.id })).data!.node).toMatchObject({
      id: mine.body.id,
      status: 'READY',
    });
    const bobsList = await restJson<{ data: DatasetJson[] }>(t.url, bob, '/api/datasets');
    expect(bobsList.body.data.map((d) => d.id)).not.toContain(mine.body.id);
    const bobsConnection = await gql(t.url, bob, DatasetsDocument, { first: 50 });
    expect(bobsConnection.data!.datasets.edges.map((e) => e.node.id)).not.toContain(mine.body.id);
    expect((await restJson(t.url, alice, `/api/datasets/${mine.body.id}`)).status).toBe(200);
  });

  it('lists newest first with cursors over REST and as a Relay connection', async () => {
    const { apiKey } = await t.account('lister');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await postRaw(t, apiKey, chatJsonl(10, ` list ${i}`))).body.id);
    const page1 = await restJson<{ data: DatasetJson[]; hasMore: boolean; nextCursor: string }>(t.url, apiKey, '/api/datasets?limit=2');
    expect(page1.body.data.map((d) => d.id)).toEqual([ids[2], ids[1]]);
    expect(page1.body.hasMore).toBe(true);
    const page2 = await restJson<{ data: DatasetJson[]; hasMore: boolean }>(
      t.url,
      apiKey,
      `/api/datasets?limit=2&after=${page1.body.nextCursor}`,
    );
    expect([page2.body.data.map((d) => d.id), page2.body.hasMore]).toEqual([[ids[0]], false]);
    const conn = await gql(t.url, apiKey, DatasetsDocument, { first: 2 });
    expect(conn.data!.datasets.edges.map((e) => e.node.id)).toEqual([ids[2], ids[1]]);
    const next = await gql(t.url, apiKey, DatasetsDocument, { first: 2, after: conn.data!.datasets.pageInfo.endCursor });
    expect(next.data!.datasets.edges.map((e) => e.node.id)).toEqual([ids[0]]);
    expect(next.data!.datasets.pageInfo.hasNextPage).toBe(false);
  });

  it('delete: 409 DATASET_IN_USE while a queued job uses it, allowed once the job is cancelled; the file and shards go with the last dataset that references them', async () => {
    const content = chatJsonl(12, ' delete');
    const mine = await waitValidated(t, alice, (await postRaw(t, alice, content)).body.id);
    const bobs = await waitValidated(t, bob, (await postRaw(t, bob, content)).body.id);
    const shards = await t.app.services.db
      .selectFrom('dataset_tokenizations')
      .select('shard_path')
      .where('sha256', '=', mine.sha256)
      .execute();
    expect(shards).toHaveLength(1);

    // api role only (no worker): the job stays QUEUED.
    const job = await restJson<{ id: string; status: string }>(t.url, alice, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: 'tiny', trainingDataset: mine.id, method: 'FULL', hyperparameters: FAST_HYPERPARAMETERS }),
    });
    expect([job.status, job.body.status]).toEqual([201, 'QUEUED']);
    const refused = await restJson<{ code: string; jobId: string }>(t.url, alice, `/api/datasets/${mine.id}`, { method: 'DELETE' });
    expect([refused.status, refused.body.code]).toEqual([409, 'DATASET_IN_USE']);
    expect(refused.body.jobId).toBe(job.body.id);
    expect((await gql(t.url, alice, DeleteDatasetDocument, { id: mine.id })).data!.deleteDataset.errors).toMatchObject([
      { code: 'DATASET_IN_USE' },
    ]);
    expect((await restJson(t.url, alice, `/api/datasets/${mine.id}`)).status).toBe(200);

    const cancelled = await restJson<{ status: string }>(t.url, alice, `/api/training/${job.body.id}/cancel`, { method: 'POST' });
    expect(cancelled.body.status).toBe('CANCELLED');
    const deleted = await restJson(t.url, alice, `/api/datasets/${mine.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect((await restJson(t.url, alice, `/api/datasets/${mine.id}`)).status).toBe(404);
    // Bob's dataset has the same bytes: the file and the shard stay.
    expect(await exists(storedPath(mine.sha256))).toBe(true);
    expect(await exists(shards[0]!.shard_path)).toBe(true);

    const viaGql = await gql(t.url, bob, DeleteDatasetDocument, { id: bobs.id });
    expect(viaGql.data!.deleteDataset).toEqual({ deletedId: bobs.id, errors: [] });
    expect(await exists(storedPath(mine.sha256))).toBe(false);
    expect(await exists(shards[0]!.shard_path)).toBe(false);
    expect(
      await t.app.services.db.selectFrom('dataset_tokenizations').select('sha256').where('sha256', '=', mine.sha256).execute(),
    ).toEqual([]);
    expect((await datasetFiles(t)).filter((f) => f.includes(mine.sha256))).toEqual([]);
  });

  it('a dataset deleted while it validates: every delete answers 204, and neither its row nor its stored file is left', async () => {
    // Uploads of different sizes deleted after different pauses catch validation at every
    // step: before it opens the file, while it reads it, while it writes the shard.
    const ids: string[] = [];
    const hashes: string[] = [];
    for (let i = 0; i < 24; i++) {
      const upload = await postRaw(t, alice, chatJsonl(20 + 40 * (i % 4), ` race ${i}`));
      expect(upload.status).toBe(201);
      if (i % 3) await new Promise((r) => setTimeout(r, i % 7));
      const deleted = await restJson(t.url, alice, `/api/datasets/${upload.body.id}`, { method: 'DELETE' });
      expect([upload.body.id, deleted.status]).toEqual([upload.body.id, 204]);
      ids.push(upload.body.id);
      hashes.push(upload.body.sha256);
    }
    for (const id of ids) expect((await restJson(t.url, alice, `/api/datasets/${id}`)).status).toBe(404);
    expect(await t.app.services.db.selectFrom('datasets').select('id').where('id', 'in', ids).execute()).toEqual([]);
    for (const sha of hashes) expect(await exists(storedPath(sha))).toBe(false);
  });

  it('an upload of bytes whose last dataset is deleted between storing and recording answers 409 UPLOAD_CONFLICT, never a dataset without its file', async () => {
    const content = chatJsonl(10, ' race');
    const mine = await postRaw(t, alice, content);
    await waitValidated(t, alice, mine.body.id);
    // Bob's upload finds the bytes already stored; the moment it picks its counting model
    // (after storing, before recording) Alice deletes the only dataset that holds them.
    const catalog = t.app.services.catalog;
    const original = catalog.fineTunableModels;
    catalog.fineTunableModels = async (...args) => {
      catalog.fineTunableModels = original;
      expect((await restJson(t.url, alice, `/api/datasets/${mine.body.id}`, { method: 'DELETE' })).status).toBe(204);
      return original(...args);
    };
    try {
      const uploaded = await postRaw(t, bob, content);
      expect([uploaded.status, uploaded.body.code]).toEqual([409, 'UPLOAD_CONFLICT']);
    } finally {
      catalog.fineTunableModels = original;
    }
    expect(await exists(storedPath(mine.body.sha256))).toBe(false);
    expect(await t.app.services.db.selectFrom('datasets').select('id').where('sha256', '=', mine.body.sha256).execute()).toEqual([]);
    // Sent again, it is stored afresh.
    const again = await postRaw(t, bob, content);
    expect(again.status).toBe(201);
    expect(await exists(storedPath(again.body.sha256))).toBe(true);
    expect((await waitValidated(t, bob, again.body.id)).status).toBe('READY');
  });

  /** Temp files seen in the store just before each cut: proves the upload was being stored. */
  const inFlight: number[] = [];

  /** Declares `declared` bytes, sends about `send` of them, then drops the connection. */
  function abortedUpload(headers: Record<string, string>, prefix: string, send: number, declared: number): Promise<void> {
    return new Promise((resolve) => {
      const url = new URL(`${t.url}/api/datasets`);
      const request = http.request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { ...headers, authorization: `Bearer ${alice}`, 'content-length': String(declared) },
      });
      request.on('error', () => resolve());
      request.on('response', (res) => {
        res.resume();
        resolve();
      });
      request.write(prefix);
      const line = chatJsonl(1, ' cut').repeat(1);
      let sent = Buffer.byteLength(prefix);
      const pump = () => {
        while (sent < send) {
          sent += Buffer.byteLength(line);
          if (!request.write(line)) return void request.once('drain', pump);
        }
        // Once the server is streaming it into the store (a temp file exists), vanish mid-body.
        const deadline = Date.now() + 10_000;
        const cut = async () => {
          if ((await tempFiles(t)).length === 0 && Date.now() < deadline) return void setTimeout(cut, 20);
          inFlight.push((await tempFiles(t)).length);
          request.destroy();
          resolve();
        };
        void cut();
      };
      pump();
    });
  }

  it('an upload cut off mid-stream (raw body or multipart) leaves no row and no file, and the app keeps serving', async () => {
    const rows = await rowCount();
    const files = await datasetFiles(t);
    await abortedUpload({ 'content-type': 'application/jsonl' }, '', MAX_BYTES / 2, MAX_BYTES - 1000);
    await expectNothingLeft(rows, files);

    const boundary = 'tuneloopboundary';
    const head = `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="cut.jsonl"\r\ncontent-type: application/jsonl\r\n\r\n`;
    await abortedUpload({ 'content-type': `multipart/form-data; boundary=${boundary}` }, head, MAX_BYTES / 2, MAX_BYTES - 1000);
    await expectNothingLeft(rows, files);
    expect(inFlight).toEqual([1, 1]);
  });

  it('an upload over the size limit answers 413 FILE_TOO_LARGE (declared, streamed raw, multipart; GraphQL 413 REQUEST_ENTITY_TOO_LARGE) and leaves nothing', async () => {
    const rows = await rowCount();
    const files = await datasetFiles(t);
    const big = chatJsonl(Math.ceil((MAX_BYTES * 1.5) / 100), ' big');
    expect(Buffer.byteLength(big)).toBeGreaterThan(MAX_BYTES);

    const declared = await postRaw(t, alice, big);
    expect([declared.status, declared.body.code]).toEqual([413, 'FILE_TOO_LARGE']);
    expect(declared.body.detail).toContain('2 MB');

    // Chunked: no Content-Length, so the store's byte count stops it.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const streamed = await fetch(`${t.url}/api/datasets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/jsonl' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect([streamed.status, ((await streamed.json()) as { code: string }).code]).toEqual([413, 'FILE_TOO_LARGE']);

    const multipart = await postMultipart(t, alice, big);
    expect([multipart.status, multipart.body.code]).toEqual([413, 'FILE_TOO_LARGE']);

    const viaGql = await gqlUpload<UploadDatasetDetailMutation>(t, alice, UploadDatasetDetailDocument.toString(), big);
    // yoga refuses the multipart file while it streams in (it would otherwise hold it in memory).
    expect([viaGql.status, viaGql.body.errors?.[0]?.extensions?.code]).toEqual([413, 'REQUEST_ENTITY_TOO_LARGE']);
    await expectNothingLeft(rows, files);
  });

  it('a body of another media type answers 415; a JSON body without url or path answers 400; the app keeps serving', async () => {
    const rows = await rowCount();
    const files = await datasetFiles(t);
    for (const type of ['text/plain', 'application/octet-stream', 'application/xml']) {
      const response = await fetch(`${t.url}/api/datasets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'content-type': type },
        body: chatJsonl(12, ' type'),
      });
      const problem = (await response.json()) as { code: string };
      expect([type, response.status, problem.code]).toEqual([type, 415, 'UNSUPPORTED_MEDIA_TYPE']);
    }
    const noType = await fetch(`${t.url}/api/datasets`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    expect(noType.status).toBe(415);
    const json = await restJson<{ code: string }>(t.url, alice, '/api/datasets', { method: 'POST', body: JSON.stringify({ file: 'x' }) });
    expect([json.status, json.body.code]).toEqual([400, 'INVALID_INPUT']);
    const wrongField = await postMultipart(t, alice, chatJsonl(12, ' field'), 'x.jsonl', 'upload');
    expect([wrongField.status, wrongField.body.code]).toEqual([400, 'INVALID_INPUT']);
    const unauthenticated = await fetch(`${t.url}/api/datasets`, {
      method: 'POST',
      headers: { 'content-type': 'application/jsonl' },
      body: chatJsonl(12),
    });
    expect(unauthenticated.status).toBe(401);
    await expectNothingLeft(rows, files);
  });
});
