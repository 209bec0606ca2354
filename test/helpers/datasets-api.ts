import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestApp } from './app.js';
import { restJson } from '../../src/dev/rest-client.js';

/** A dataset as REST answers it (the fields the API tests read). */
export interface DatasetJson {
  id: string;
  status: 'VALIDATING' | 'READY' | 'INVALID';
  filename: string | null;
  source: string;
  format: string | null;
  examples: number | null;
  bytes: number;
  sha256: string;
  tokenizerModel: string | null;
  stats: {
    examples: number;
    lines: number;
    format: string | null;
    messagesPerRole: Record<string, number> | null;
    tokens: { total: number; mean: number; max: number; trainable: number } | null;
  } | null;
  errors: Array<{ line: number | null; code: string; field: string | null; message: string }>;
  errorCount: number;
  warnings: Array<{ line: number | null; code: string; field: string | null; message: string }>;
  warningCount: number;
}

/** Polls GET /api/datasets/{id} until validation has finished. */
export async function waitValidated(t: TestApp, apiKey: string, id: string, timeoutMs = 60_000): Promise<DatasetJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await restJson<DatasetJson>(t.url, apiKey, `/api/datasets/${id}`);
    if (status !== 200) throw new Error(`GET /api/datasets/${id}: ${status} ${JSON.stringify(body)}`);
    if (body.status !== 'VALIDATING') return body;
    if (Date.now() > deadline) throw new Error(`dataset ${id} still VALIDATING after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** POST /api/datasets with a raw JSONL body. */
export async function postRaw(t: TestApp, apiKey: string, body: string, type = 'application/jsonl') {
  const response = await fetch(`${t.url}/api/datasets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': type },
    body,
  });
  return { status: response.status, body: (await response.json()) as DatasetJson & { code?: string; detail?: string } };
}

/** POST /api/datasets as multipart/form-data with the file in field `field`. */
export async function postMultipart(t: TestApp, apiKey: string, content: string, filename = 'train.jsonl', field = 'file') {
  const form = new FormData();
  form.append(field, new Blob([content], { type: 'application/jsonl' }), filename);
  const response = await fetch(`${t.url}/api/datasets`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: form });
  return { status: response.status, body: (await response.json()) as DatasetJson & { code?: string; detail?: string } };
}

/** A GraphQL multipart request (operations / map / file) for `query` with the file at `variables.input.file`. */
export async function gqlUpload<T>(
  t: TestApp,
  apiKey: string,
  query: string,
  content: string | Blob,
  filename = 'train.jsonl',
  model?: string,
) {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables: { input: { file: null, ...(model ? { model } : {}) } } }));
  form.append('map', JSON.stringify({ 0: ['variables.input.file'] }));
  form.append('0', typeof content === 'string' ? new Blob([content], { type: 'application/jsonl' }) : content, filename);
  const response = await fetch(`${t.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: form });
  return {
    status: response.status,
    body: (await response.json()) as { data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> },
  };
}

/** Every regular file under `<dataDir>/datasets` (stored files and temp files), relative names. */
export async function datasetFiles(t: TestApp): Promise<string[]> {
  const root = join(t.config.dataDir, 'datasets');
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

/** Files in the upload temp folder (`<dataDir>/datasets/tmp`): empty when no upload is in flight. */
export async function tempFiles(t: TestApp): Promise<string[]> {
  return readdir(join(t.config.dataDir, 'datasets', 'tmp')).catch(() => []);
}

/** `n` distinct valid chat examples. */
export function chatJsonl(n: number, tag = ''): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    out += `${JSON.stringify({
      messages: [
        { role: 'user', content: `Question ${i}${tag}?` },
        { role: 'assistant', content: `Answer ${i}${tag}.` },
      ],
    })}\n`;
  }
  return out;
}

/** `n` distinct valid completion examples. */
export function completionJsonl(n: number, tag = ''): string {
  let out = '';
  for (let i = 0; i < n; i++) out += `${JSON.stringify({ prompt: `Count to ${i}${tag}:`, completion: ` ${i}` })}\n`;
  return out;
}
