import { ApiError } from './graphql';
import { authorizationHeader } from './session';

/**
 * Uploads a JSONL file to the REST route, which streams it to disk (GraphQL multipart
 * holds the file in memory, fine for small files only). XMLHttpRequest, not fetch: only
 * it reports upload progress, which a multi-hundred-megabyte dataset needs.
 */
export function uploadDataset(file: File, onProgress: (fraction: number) => void): Promise<{ id: string; status: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/datasets');
    for (const [name, value] of Object.entries(authorizationHeader())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onerror = () => reject(new ApiError('the upload failed: the server could not be reached', 'NETWORK'));
    xhr.onload = () => {
      let body: { id?: string; status?: string; detail?: string; title?: string; code?: string } = {};
      try {
        body = JSON.parse(xhr.responseText) as typeof body;
      } catch {
        // not JSON: reported below
      }
      if (xhr.status === 201 && body.id) resolve({ id: body.id, status: body.status ?? 'VALIDATING' });
      else reject(new ApiError(body.detail ?? body.title ?? `the upload failed (${xhr.status})`, body.code ?? 'UPLOAD_FAILED'));
    };
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}
