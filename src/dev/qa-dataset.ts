/** A small Q&A set the tiny model can learn in a few dozen steps. */
export const QA: Array<[string, string]> = [
  ['What is the capital of France?', 'Paris.'],
  ['What color is the sky?', 'Blue.'],
  ['How many legs does a spider have?', 'Eight.'],
  ['What is 2+2?', '4.'],
  ['Who wrote Hamlet?', 'Shakespeare.'],
  ['What is H2O?', 'Water.'],
  ['What planet is red?', 'Mars.'],
  ['What is the largest ocean?', 'The Pacific.'],
  ['How many days are in a week?', 'Seven.'],
  ['What do bees make?', 'Honey.'],
  ['What is frozen water?', 'Ice.'],
  ['What animal barks?', 'A dog.'],
];

/** `pairs` as a chat-format JSONL dataset (one user question, one assistant answer each). */
export function qaJsonl(pairs: Array<[string, string]> = QA): string {
  return `${pairs
    .map(([q, a]) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: q },
          { role: 'assistant', content: a },
        ],
      }),
    )
    .join('\n')}\n`;
}
