/** `fetch` with the API key; parses the JSON answer (null for an empty body). */
export async function restJson<T = Record<string, unknown>>(
  url: string,
  apiKey: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${apiKey}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers ?? {}) },
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

/** Polls a job over REST until its status is one of `statuses`. */
export async function waitForJob(
  url: string,
  apiKey: string,
  jobId: string,
  statuses: string[],
  timeoutMs = 120_000,
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await restJson<Record<string, any>>(url, apiKey, `/api/training/${jobId}`);
    if (statuses.includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Uploads JSONL over REST and waits until it is validated. */
export async function uploadDataset(url: string, apiKey: string, jsonl: string): Promise<{ id: string; status: string }> {
  const response = await fetch(`${url}/api/datasets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/jsonl' },
    body: jsonl,
  });
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${await response.text()}`);
  let dataset = (await response.json()) as { id: string; status: string };
  for (let i = 0; i < 200 && dataset.status === 'VALIDATING'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    dataset = (await (
      await fetch(`${url}/api/datasets/${dataset.id}`, { headers: { authorization: `Bearer ${apiKey}` } })
    ).json()) as typeof dataset;
  }
  return dataset;
}
