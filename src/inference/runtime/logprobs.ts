import type { TokenLogprob } from './protocol.js';

/**
 * `token`'s log-probability in one position's logits (log-softmax over the vocabulary,
 * before temperature, penalties and bias: the model's own distribution, as OpenAI reports
 * it) and the `top` most likely tokens with theirs, most likely first (ties: lower id).
 */
export function tokenLogprob(logits: Float32Array, vocabSize: number, token: number, top: number): TokenLogprob {
  let max = -Infinity;
  for (let i = 0; i < vocabSize; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < vocabSize; i++) sum += Math.exp(logits[i]! - max);
  const logZ = max + Math.log(sum);
  const best: number[] = [];
  if (top > 0) {
    for (let i = 0; i < vocabSize; i++) {
      const v = logits[i]!;
      if (best.length === top && v <= logits[best[top - 1]!]!) continue;
      let at = best.length;
      while (at > 0 && logits[best[at - 1]!]! < v) at--;
      best.splice(at, 0, i);
      if (best.length > top) best.pop();
    }
  }
  return { token, logprob: logits[token]! - logZ, top: best.map((id) => [id, logits[id]! - logZ]) };
}
