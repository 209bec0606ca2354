import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { chatJsonl, postRaw, waitValidated } from '../helpers/datasets-api.js';
import { MAX_VALIDATION_ATTEMPTS } from '../../src/datasets/run-validation.js';

/**
 * A file whose validation takes its process down (killed for memory, or a bug like the
 * NUL byte that once crashed it) must not crash every process that sweeps it up, forever:
 * after MAX_VALIDATION_ATTEMPTS claims that died, the next sweep stores it INVALID with
 * the whole-file code `validation_interrupted` instead of validating it again, and sending
 * the same bytes again is the retry (the same dataset, validated afresh).
 *
 * The dead claims are written as three dead processes leave them: the attempts counted and
 * the lease lapsed while VALIDATING (test/datasets/crash-recovery.test.ts kills real ones).
 */
describe.each(engines())('a validation interrupted again and again (%s)', (engine) => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    ({ apiKey: key } = await t.account('interrupted'));
    await addTinyModel(t);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it(`is INVALID validation_interrupted after ${MAX_VALIDATION_ATTEMPTS} dead claims, not validated again; the same bytes again retry it`, async () => {
    const body = chatJsonl(12, ' interrupted');
    const uploaded = await postRaw(t, key, body);
    expect(uploaded.status).toBe(201);
    expect((await waitValidated(t, key, uploaded.body.id)).status).toBe('READY');

    await t.app.services.db
      .updateTable('datasets')
      .set({
        status: 'VALIDATING',
        validation_attempts: MAX_VALIDATION_ATTEMPTS,
        validation_lease_expires_at: sql<Date>`now() - interval '1 second'`,
      })
      .where('id', '=', uploaded.body.id)
      .execute();

    const interrupted = await waitValidated(t, key, uploaded.body.id, 30_000); // the sweep runs every 5–7 s
    expect(interrupted.status).toBe('INVALID');
    expect(interrupted.errors).toEqual([
      {
        line: null,
        code: 'validation_interrupted',
        field: null,
        message: expect.stringMatching(/interrupted 3 times .* upload the file again/),
      },
    ]);

    const again = await postRaw(t, key, body);
    expect([again.body.id, again.body.status]).toEqual([uploaded.body.id, 'VALIDATING']);
    const retried = await waitValidated(t, key, uploaded.body.id);
    expect([retried.status, retried.errors]).toEqual(['READY', []]);
  }, 60_000);
});
