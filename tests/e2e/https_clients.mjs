// Run by https.test.mjs in a child Node process with NODE_EXTRA_CA_CERTS set to the local CA:
// the real openai and ollama clients, unmodified, over HTTPS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { startServer, MODEL } from './harness.mjs';

let server;

before(async () => {
  server = await startServer([], { tls: true, stateDir: process.env.BASTION_STATE_DIR });
  assert.match(server.url, /^https:/);
  assert.ok(!server.log().includes('(created now)'), 'the CA from the first start is reused');
});
after(async () => { await server.stop(); });

test('openai client over HTTPS: chat, streamed chat, models', async () => {
  const client = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused', maxRetries: 0 });
  const ids = (await client.models.list()).data.map((m) => m.id);
  assert.ok(ids.includes(MODEL));
  const r = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.usage.completion_tokens >= 1);
  const stream = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Count.' }], max_tokens: 8, stream: true,
  });
  let chunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    chunks += 1;
  }
  assert.ok(chunks >= 2);
});

test('ollama client over HTTPS: list, chat, streamed generate', async () => {
  const ollama = new Ollama({ host: server.url });
  const list = await ollama.list();
  assert.ok(list.models.some((m) => m.name === MODEL || m.model === MODEL));
  const chat = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 6 } });
  assert.equal(chat.message.role, 'assistant');
  assert.equal(chat.done, true);
  let last;
  for await (const part of await ollama.generate({ model: MODEL, prompt: 'Once', stream: true, options: { num_predict: 6 } })) {
    last = part;
  }
  assert.equal(last.done, true);
});
