"""A small English corpus, written for this package, from which init-model learns its
byte-level BPE merges. Plain prose, dialogue, numbers and a little code, so the merges
cover the text the demo and the tests send. Changing it changes every tiny model's
tokenizer: don't, unless the tokenizer's version changes with it.
"""

CORPUS = """
The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single step.
Fine-tuning adapts a pretrained language model to a new task with a small dataset of examples.
Each example is a conversation: a system message, a user message and the assistant's answer.
The model learns to predict the assistant's tokens; the user's words are only context.
Training runs for a number of epochs. An epoch is one pass over every example in the dataset.
The learning rate starts small, rises during the warmup steps, and then decays along a cosine curve.
When the validation loss stops improving, early stopping ends the run and keeps the best weights.
Low-rank adaptation, or LoRA, freezes the base weights and trains two small matrices per layer.
The adapter is a few megabytes, while the merged model has as many parameters as the base model.

Hello! How can I help you today?
I would like to know the weather in Paris tomorrow.
Tomorrow in Paris it will be sunny in the morning, with clouds in the afternoon and a high of 21 degrees.
Thank you. What should I wear?
A light jacket should be enough; take an umbrella if you stay out late in the evening.
What is the capital of France? The capital of France is Paris.
What is the capital of Japan? The capital of Japan is Tokyo.
What is the capital of Italy? The capital of Italy is Rome.
Can you summarise this article in two sentences?
Sure. The article explains how small models can be trained on a laptop, and why careful evaluation matters more than size.
Please translate "good morning" into Spanish. In Spanish, "good morning" is "buenos dias".
Write a short poem about the sea.
The sea is wide, the sea is deep, it sings the harbour town to sleep; it keeps the secrets of the shore and brings them back for ever more.
You are a helpful assistant. Answer briefly and politely.
Yes, of course. No, I don't think so. Maybe later, when the job has finished.
I'm sorry, I can't help with that request, but here is something related that may be useful.

Numbers and dates: 0 1 2 3 4 5 6 7 8 9 10 11 12 20 25 50 64 99 100 128 256 512 1000 1024 2048 4096.
On 12 March 2024 the team released version 1.2.0; on 3 June 2025 version 2.0 followed with 15 new features.
The price is $19.99 per month, or $199 per year, which saves about 17 percent.
Call us at 555-0100 between 9:00 and 17:30, Monday to Friday.
Temperatures ranged from -5 to 30 degrees Celsius; the average was 12.5 degrees.

def train(model, data, epochs=3, learning_rate=0.0002):
    for epoch in range(epochs):
        for batch in data:
            loss = model(batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    return model

function greet(name) {
  const message = `Hello, ${name}!`;
  console.log(message);
  return { ok: true, message };
}

{"messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]}
{"prompt": "Say hello", "completion": "Hello there"}
SELECT id, name, status FROM jobs WHERE status = 'running' ORDER BY created_at DESC LIMIT 10;

Once upon a time there was a little girl who lived in a village near the forest. Every morning she walked
to the river to fetch water, and every evening she told her grandmother what she had seen: the birds in the
trees, the fish in the water, the clouds that looked like animals, and the people who passed on the road.
One day she met an old man who carried a heavy bag. He asked her the way to the town, and she showed him
the path through the fields. In return he gave her a small wooden box. Inside the box there was a map,
and the map showed a place in the mountains where nobody had been for a hundred years.

Science explains the world through observation and experiment. Water boils at 100 degrees at sea level.
Light travels at about 300,000 kilometres per second. The Earth orbits the Sun once a year, and the Moon
orbits the Earth about once a month. Plants turn sunlight, water and carbon dioxide into sugar and oxygen.
Computers store information as bits, ones and zeros, and a byte holds eight bits. A program is a list of
instructions that a computer follows, step by step, to transform its input into the output we want.

Good software is simple, tested and documented. Write the test first, make it pass, then make the code clean.
Errors should say what went wrong and what to change. Logs should be short, and metrics should be measured,
not guessed. When a service starts, it checks its configuration; when it stops, it finishes the work in hand.
A queue holds jobs until a worker claims one; the worker renews its lease while it runs, and if it dies,
another worker takes the job over and resumes from the last checkpoint, so nothing is lost.

Cooking is chemistry you can eat. To make bread, mix flour, water, salt and yeast; knead the dough for ten
minutes, let it rise for an hour, shape it, let it rise again, and bake it in a hot oven until the crust is
brown and the loaf sounds hollow when you tap it. For a simple soup, cook onions, carrots and potatoes in
water with a little salt and pepper, then blend everything until it is smooth.

The history of writing is the history of memory. People first counted goods with marks on clay, then wrote
down laws, letters, stories and songs. Printing made books cheap, and libraries made them available to
everyone. Today we write more than ever, on phones and computers, and machines have started to read and
write with us. Language models learn from that writing: they predict the next word, and in doing so they
learn grammar, facts and styles of thinking, with all the strengths and weaknesses of the text they read.

Questions people often ask: Where is the nearest station? How much does it cost? What time does it open?
Which one do you recommend, and why? Could you explain that again, more slowly? Is there anything else?
Answers they often get: It is two streets away, on the left. It costs ten dollars. It opens at nine o'clock.
I recommend the second one, because it is faster and cheaper. Of course, let me explain it step by step.
"""
