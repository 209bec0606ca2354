import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';

/**
 * Model folders for catalog-import tests, made from the real trainer's init-model output:
 * a sharded copy of it, and one broken variant per refusal the catalog must give. Weights
 * are rewritten through a small safetensors writer so every variant is a self-consistent
 * file (a changed shape or dtype keeps the byte count), not a header that lies about its data.
 */

interface Tensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Buffer;
}

export async function readSafetensors(file: string): Promise<{ tensors: Tensor[]; metadata: Record<string, string> | undefined }> {
  const bytes = await fs.readFile(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>
  >;
  const base = 8 + headerLength;
  const tensors: Tensor[] = [];
  let metadata: Record<string, string> | undefined;
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as Record<string, string>;
      continue;
    }
    const t = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors.push({ name, dtype: t.dtype, shape: t.shape, data: bytes.subarray(base + t.data_offsets[0], base + t.data_offsets[1]) });
  }
  return { tensors, metadata };
}

/** Writes a safetensors file: u64 LE header length, JSON header (padded to 8 bytes), data. */
export async function writeSafetensors(file: string, tensors: Tensor[], metadata?: Record<string, string>): Promise<void> {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await fs.writeFile(file, Buffer.concat([length, Buffer.from(json), ...tensors.map((t) => t.data)]));
}

/** Copies the folder's small files; the weights are linked unless `withWeights` is false. */
async function copyFolder(from: string, to: string, opts: { withWeights?: boolean } = {}): Promise<void> {
  await fs.mkdir(to, { recursive: true });
  for (const name of await fs.readdir(from)) {
    const stat = await fs.stat(path.join(from, name));
    if (!stat.isFile()) continue;
    if (name.endsWith('.safetensors')) {
      if (opts.withWeights !== false) await fs.symlink(path.join(from, name), path.join(to, name));
      continue;
    }
    await fs.copyFile(path.join(from, name), path.join(to, name));
  }
}

/** Splits a single-file folder into `parts` shards + model.safetensors.index.json (Hugging Face layout). */
export async function writeShardedCopy(from: string, to: string, parts = 3): Promise<string[]> {
  await copyFolder(from, to, { withWeights: false });
  const { tensors, metadata } = await readSafetensors(path.join(from, 'model.safetensors'));
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  const perShard = Math.ceil(tensors.length / parts);
  for (let i = 0; i < parts; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(parts).padStart(5, '0')}.safetensors`;
    const chunk = tensors.slice(i * perShard, (i + 1) * perShard);
    await writeSafetensors(path.join(to, file), chunk, metadata);
    for (const t of chunk) weightMap[t.name] = file;
    files.push(file);
  }
  const totalSize = tensors.reduce((n, t) => n + t.data.length, 0);
  await fs.writeFile(
    path.join(to, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2),
  );
  return files;
}

export interface Refusal {
  /** What is wrong, as a test name. */
  name: string;
  dir: string;
  id: string;
  fineTunable: boolean;
  /** The one-line message must match this. */
  message: RegExp;
  code: string;
}

/** A loadable model folder whose tokenizer or chat template is set up in one of the ways real checkpoints do. */
export interface TokenizerVariant {
  name: string;
  dir: string;
}

export interface ModelVariants {
  root: string;
  /** The unmodified init-model folder (shared, read-only). */
  single: string;
  /** The same weights in three shards with an index. */
  sharded: string;
  /** Every loadable folder: `single`, `sharded` and each tokenizer/template set-up (see `buildTokenizerVariants`). */
  loadable: TokenizerVariant[];
  /** Every folder- or input-level refusal (the duplicate id needs a database and is tested apart). */
  refusals: Refusal[];
  remove(): Promise<void>;
}

async function editJson(file: string, edit: (json: Record<string, unknown>) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  await fs.writeFile(file, JSON.stringify(json, null, 2));
}

export async function buildModelVariants(): Promise<ModelVariants> {
  const single = await tinyModelFolder();
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-variants-'));
  const sharded = path.join(root, 'sharded');
  const shards = await writeShardedCopy(single, sharded);
  const { tensors } = await readSafetensors(path.join(single, 'model.safetensors'));
  const refusals: Refusal[] = [];

  async function variant(name: string, message: RegExp, make: (dir: string) => Promise<void>, opts: Partial<Refusal> = {}): Promise<void> {
    const dir = path.join(root, name.replace(/[^a-z0-9]+/gi, '-'));
    await make(dir);
    refusals.push({ name, dir, id: 'refused', fineTunable: true, message, code: 'INVALID_MODEL_FOLDER', ...opts });
  }
  const copy = (dir: string) => copyFolder(single, dir);
  const withTensors = async (dir: string, change: (ts: Tensor[]) => Tensor[]) => {
    await copyFolder(single, dir, { withWeights: false });
    await writeSafetensors(path.join(dir, 'model.safetensors'), change(tensors.map((t) => ({ ...t }))), { format: 'pt' });
  };

  await variant('no such folder', /no such folder/, async () => {});
  await variant('missing config.json', /config\.json is missing/, async (dir) => {
    await copy(dir);
    await fs.rm(path.join(dir, 'config.json'));
  });
  await variant('config.json is not JSON', /config\.json is not valid JSON/, async (dir) => {
    await copy(dir);
    await fs.writeFile(path.join(dir, 'config.json'), '{"model_type": "llama", "hidden_size": 256,');
  });
  await variant('unsupported architecture', /architecture "gpt2" is not supported; supported: llama, qwen2, mistral/, async (dir) => {
    await copy(dir);
    await editJson(path.join(dir, 'config.json'), (c) => {
      c.model_type = 'gpt2';
      c.architectures = ['GPT2LMHeadModel'];
    });
  });
  await variant('missing safetensors', /no weights: expected model\.safetensors or model\.safetensors\.index\.json/, async (dir) => {
    await copyFolder(single, dir, { withWeights: false });
  });
  await variant('a missing tensor', /missing tensor model\.layers\.1\.mlp\.up_proj\.weight \(config\.json implies it\)/, (dir) =>
    withTensors(dir, (ts) => ts.filter((t) => t.name !== 'model.layers.1.mlp.up_proj.weight')),
  );
  await variant('wrong shape', /tensor lm_head\.weight has shape \[512,512\] but config\.json implies \[1024,256\]/, (dir) =>
    withTensors(dir, (ts) => ts.map((t) => (t.name === 'lm_head.weight' ? { ...t, shape: [512, 512] } : t))),
  );
  await variant('bad dtype', /tensor model\.norm\.weight has dtype I32; supported: F32, F16, BF16/, (dir) =>
    withTensors(dir, (ts) => ts.map((t) => (t.name === 'model.norm.weight' ? { ...t, dtype: 'I32' } : t))),
  );
  await variant('missing shard', new RegExp(`shard ${shards[1]!.replace(/\./g, '\\.')} named in the index is missing`), async (dir) => {
    await fs.cp(sharded, dir, { recursive: true });
    await fs.rm(path.join(dir, shards[1]!));
  });
  await variant('tokenizer.json missing', /tokenizer\.json is missing/, async (dir) => {
    await copy(dir);
    await fs.rm(path.join(dir, 'tokenizer.json'));
  });
  await variant('tokenizer.json corrupt', /tokenizer\.json does not load/, async (dir) => {
    await copy(dir);
    const text = await fs.readFile(path.join(dir, 'tokenizer.json'), 'utf8');
    await fs.writeFile(path.join(dir, 'tokenizer.json'), text.slice(0, Math.floor(text.length / 2)));
  });
  await variant(
    'fine-tunable without chat_template',
    /tokenizer_config\.json has no chat_template, which fine-tuning needs/,
    async (dir) => {
      await copy(dir);
      await editJson(path.join(dir, 'tokenizer_config.json'), (c) => {
        delete c.chat_template;
      });
    },
  );
  refusals.push({
    name: 'invalid id',
    dir: single,
    id: 'Not A Valid Id!',
    fineTunable: true,
    message: /model id must be 1–63 characters of a-z, 0-9/,
    code: 'INVALID_INPUT',
  });

  const loadable = [{ name: 'single', dir: single }, { name: 'sharded', dir: sharded }, ...(await buildTokenizerVariants(single, root))];
  return { root, single, sharded, loadable, refusals, remove: () => fs.rm(root, { recursive: true, force: true }) };
}

/**
 * Copies of `single` (weights linked) that differ in what decides a prompt's token ids:
 * where BOS comes from (tokenizer_config's `add_bos_token`, or a TemplateProcessing
 * post-processor with a template that writes `bos_token` itself, Llama 3 style), an NFC
 * normalizer, and where the chat template is stored (chat_template.jinja, a named list).
 */
export async function buildTokenizerVariants(single: string, root: string): Promise<TokenizerVariant[]> {
  const variants: TokenizerVariant[] = [];
  const variant = async (name: string, edit: (dir: string) => Promise<void>) => {
    const dir = path.join(root, `tokenizer-${name}`);
    await copyFolder(single, dir);
    await edit(dir);
    variants.push({ name, dir });
  };
  const config = (dir: string) => path.join(dir, 'tokenizer_config.json');
  const tokenizer = (dir: string) => path.join(dir, 'tokenizer.json');
  const template = JSON.parse(await fs.readFile(config(single), 'utf8')).chat_template as string;

  await variant('bos from add_bos_token', (dir) =>
    editJson(config(dir), (c) => {
      c.add_bos_token = true;
      c.bos_token = '<|endoftext|>';
    }),
  );
  await variant('bos from the post-processor', async (dir) => {
    await editJson(tokenizer(dir), (t) => {
      const bos = { id: '<|endoftext|>', ids: [1021], tokens: ['<|endoftext|>'] };
      t.post_processor = {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          { SpecialToken: { id: '<|endoftext|>', type_id: 0 } },
          { Sequence: { id: 'A', type_id: 0 } },
          { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: { '<|endoftext|>': bos },
      };
    });
    await editJson(config(dir), (c) => {
      c.bos_token = '<|endoftext|>';
      c.chat_template = `{{- bos_token }}${template}`;
    });
  });
  await variant('NFC normalizer', (dir) =>
    editJson(tokenizer(dir), (t) => {
      t.normalizer = { type: 'NFC' };
    }),
  );
  await variant('template in chat_template.jinja', async (dir) => {
    await editJson(config(dir), (c) => {
      delete c.chat_template;
    });
    await fs.writeFile(path.join(dir, 'chat_template.jinja'), template);
  });
  await variant('named templates', (dir) =>
    editJson(config(dir), (c) => {
      c.chat_template = [
        { name: 'tool_use', template: `{{- 'tools: ' }}${template}` },
        { name: 'default', template },
      ];
    }),
  );
  return variants;
}
