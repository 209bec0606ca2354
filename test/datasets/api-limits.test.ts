import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import type { Config } from '../../src/config.js';
import { addTinyModel } from '../helpers/training.js';
import { chatJsonl, postRaw, waitValidated } from '../helpers/datasets-api.js';

/** A chat example far longer than the tiny model's 512-token context. */
function longLine(): string {
  const words = Array.from({ length: 900 }, (_, i) => `word${i}`).join(' ');
  return JSON.stringify({
    messages: [
      { role: 'user', content: words },
      { role: 'assistant', content: 'Long.' },
    ],
  });
}

/** Operator limits (config / TUNELOOP_DATASET_*) reach validation. */
describe('dataset limits from the configuration', () => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const a of apps) await a.stop();
  });

  async function boot(config: Partial<Config>) {
    const t = await startTestApp('pglite', { config });
    apps.push(t);
    await addTinyModel(t);
    return { t, key: (await t.account('alice')).apiKey };
  }

  let defaults: { t: TestApp; key: string };
  let custom: { t: TestApp; key: string };
  beforeAll(async () => {
    [defaults, custom] = await Promise.all([
      boot({}),
      boot({ datasetMinExamples: 3, datasetMaxExamples: 5, datasetMaxTokensPerExample: 100_000 }),
    ]);
  });

  it('by default: an example over the context is example_too_long, 3 examples are too_few_examples', async () => {
    const lines = chatJsonl(11, ' default').trimEnd().split('\n');
    lines.splice(3, 0, longLine());
    const tooLong = await waitValidated(
      defaults.t,
      defaults.key,
      (await postRaw(defaults.t, defaults.key, `${lines.join('\n')}\n`)).body.id,
    );
    expect(tooLong.status).toBe('INVALID');
    expect(tooLong.errors).toMatchObject([{ line: 4, code: 'example_too_long', message: expect.stringContaining('512') }]);
    const few = await waitValidated(defaults.t, defaults.key, (await postRaw(defaults.t, defaults.key, chatJsonl(3, ' few'))).body.id);
    expect(few.errors).toMatchObject([{ line: null, code: 'too_few_examples', message: expect.stringContaining('at least 10') }]);
  });

  it('configured: 3 examples suffice, 6 are too many, and an example past the context is accepted with example_truncated', async () => {
    const few = await waitValidated(custom.t, custom.key, (await postRaw(custom.t, custom.key, chatJsonl(3, ' few'))).body.id);
    expect(few.status).toBe('READY');
    const many = await waitValidated(custom.t, custom.key, (await postRaw(custom.t, custom.key, chatJsonl(6, ' many'))).body.id);
    expect(many.errors).toMatchObject([{ line: null, code: 'file_too_large', message: expect.stringContaining('at most 5') }]);
    const lines = chatJsonl(3, ' long').trimEnd().split('\n');
    lines.splice(1, 0, longLine());
    const truncated = await waitValidated(custom.t, custom.key, (await postRaw(custom.t, custom.key, `${lines.join('\n')}\n`)).body.id);
    expect(truncated.status).toBe('READY');
    expect(truncated.warnings).toMatchObject([{ line: 2, code: 'example_truncated', message: expect.stringContaining('512') }]);
    expect(truncated.stats!.tokens!.max).toBeGreaterThan(512);
  });
});
