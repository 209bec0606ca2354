/**
 * The `openai` npm package against a running server, no training: /v1/files over the
 * datasets service (either field order in the multipart form, a refused purpose stores
 * nothing, pages across `has_more`, line-numbered status_details) and OpenAI's error
 * shape for /v1 answers that never reach a route (unknown URL, wrong key, a bad cursor, a
 * body over the limit). test/openai/fine-tuning.test.ts covers files inside the full flow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { toFile } from 'openai';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';

describe.each(engines())('OpenAI files and errors (%s)', (engine) => {
  let t: TestApp;
  let alice: OpenAI;
  let bob: OpenAI;

  const upload = async (client: OpenAI, text: string, name = 'train.jsonl') =>
    client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'fine-tune' });
  const until = async (client: OpenAI, id: string) => {
    for (;;) {
      const file = await client.files.retrieve(id);
      if (file.status !== 'uploaded') return file;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    t = await startTestApp(engine);
    await addTinyModel(t);
    const a = await t.account('alice', 100_000_000n);
    const b = await t.account('bob', 100_000_000n);
    alice = new OpenAI({ apiKey: a.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    bob = new OpenAI({ apiKey: b.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => t?.stop());

  it('uploads, validates, lists across pages, reads back and deletes files', async () => {
    const text = qaJsonl();
    const created = await upload(alice, text);
    expect(created).toMatchObject({ object: 'file', purpose: 'fine-tune', filename: 'train.jsonl', bytes: Buffer.byteLength(text) });
    expect(created.id).toMatch(/^ds_/);
    const done = await until(alice, created.id);
    expect(done).toMatchObject({ id: created.id, status: 'processed' });
    expect(done.status_details ?? null).toBeNull();
    // A file is the dataset: the same id on the REST API.
    const dataset = await fetch(`${t.url}/api/datasets/${created.id}`, { headers: { authorization: `Bearer ${alice.apiKey}` } });
    expect(((await dataset.json()) as { status: string }).status).toBe('READY');

    const content = await alice.files.content(created.id);
    expect(await content.text()).toBe(text);

    // Purpose given before the file works as well as after it.
    const second = await alice.files.create({
      purpose: 'fine-tune',
      file: await toFile(Buffer.from(qaJsonl().replace('Paris', 'Lyon')), 'b.jsonl'),
    });
    const third = await upload(alice, qaJsonl().replace('Paris', 'Nice'), 'c.jsonl');
    const seen: string[] = [];
    for await (const file of alice.files.list({ limit: 2 })) seen.push(file.id);
    expect(seen).toEqual([third.id, second.id, created.id]);
    const page = await alice.files.list({ limit: 2 });
    expect(page.has_more).toBe(true);
    expect((await alice.files.list({ purpose: 'assistants' })).data).toEqual([]);

    expect(await alice.files.delete(third.id)).toEqual({ id: third.id, object: 'file', deleted: true });
    await expect(alice.files.retrieve(third.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('reports a bad file as status error with line-numbered details', async () => {
    const bad = `${qaJsonl()}{"messages": [}\n`;
    const file = await until(alice, (await upload(alice, bad, 'bad.jsonl')).id);
    expect(file.status).toBe('error');
    const line = qaJsonl().trimEnd().split('\n').length + 1;
    expect(file.status_details).toMatch(new RegExp(`^1 error: line ${line}: not valid JSON`));
  });

  it('refuses other purposes and missing fields with a BadRequestError naming the param', async () => {
    const other = alice.files.create({ file: await toFile(Buffer.from(qaJsonl()), 'x.jsonl'), purpose: 'assistants' });
    await expect(other).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(other).rejects.toMatchObject({ status: 400, param: 'purpose' });
    // Nothing was recorded for the refused upload.
    const listed: string[] = [];
    for await (const f of alice.files.list()) listed.push(f.filename);
    expect(listed).not.toContain('x.jsonl');
  });

  it("answers another account's file exactly like a missing one", async () => {
    const mine = await upload(alice, qaJsonl().replace('Paris', 'Metz'), 'mine.jsonl');
    for (const call of [() => bob.files.retrieve(mine.id), () => bob.files.content(mine.id), () => bob.files.delete(mine.id)]) {
      await expect(call()).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    }
    const foreign = await bob.files.retrieve(mine.id).catch((e: InstanceType<typeof OpenAI.NotFoundError>) => e.error);
    const missing = await bob.files
      .retrieve('ds_0000000000aaaaaaaaaaaaaaaa')
      .catch((e: InstanceType<typeof OpenAI.NotFoundError>) => e.error);
    expect(foreign).toEqual(JSON.parse(JSON.stringify(missing).replaceAll('ds_0000000000aaaaaaaaaaaaaaaa', mine.id)));
  });

  it('answers every /v1 error in OpenAI’s shape: unknown route, wrong key, bad cursor, too large', async () => {
    const unknown = alice.get('/no/such/route');
    await expect(unknown).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(unknown).rejects.toMatchObject({ type: 'invalid_request_error', code: 'unknown_url' });
    const wrong = new OpenAI({ apiKey: 'tl_wrong', baseURL: `${t.url}/v1`, maxRetries: 0 });
    await expect(wrong.files.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(alice.files.list({ after: 'not-an-id' })).rejects.toMatchObject({ status: 400, param: 'after' });
    const big = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'x', pad: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(big.status).toBe(413);
    // Params as OpenAI writes them: array items in brackets, no transport prefix.
    const missingRole = alice.chat.completions.create({ model: 'tiny', messages: [{ content: 'hi' } as never] });
    await expect(missingRole).rejects.toMatchObject({ status: 400, param: 'messages[0].role' });
    const nul = alice.fineTuning.jobs.create({ model: 'ti\u0000ny', training_file: 'ds_x' });
    await expect(nul).rejects.toMatchObject({ status: 400, param: 'model', message: expect.stringMatching(/^400 model contains text/) });
    await expect(alice.files.list({ purpose: 'a\u0000' })).rejects.toMatchObject({ status: 400, param: 'purpose' });
    expect(((await big.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });
});
